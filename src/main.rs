//! The `rrcanet` command line: a thin clap layer over the library.

mod cli;

/// mimalloc keeps freed memory for reuse: glibc's malloc returns every large tensor buffer to
/// the system and page-faults it back on the next step, which measured 2-4x slower on
/// full-resolution ops (notes/norm-ops.md, notes/ops.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay`, which the binding does not name: it comes right before
/// `mi_option_use_numa_nodes` in `mi_option_e`.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = libmimalloc_sys::mi_option_use_numa_nodes - 1;

/// Tells mimalloc to keep freed pages instead of returning them to the system after a delay:
/// between training steps it returned them and the kernel zeroed fresh ones on the next step
/// (14 % of a quick-start profile in `clear_page_erms`); keeping them made 3 quick-start epochs
/// 18 % faster (notes/decisions.md).
fn keep_freed_memory() {
    // SAFETY: sets a plain integer option before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) }
}

fn main() -> std::process::ExitCode {
    keep_freed_memory();
    cli::main()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The option we set is the purge delay: it has mimalloc 3's default for it, 1000 ms
    /// (its neighbours default to 1 and 0).
    #[test]
    fn purge_delay_option_is_the_one_we_set() {
        // SAFETY: reads an integer option.
        let default = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        assert_eq!(default, 1000);
    }
}
