//! The `rrcanet` command line: a thin clap layer over the library.

mod cli;

/// mimalloc keeps freed memory for reuse: glibc's malloc returns every large tensor buffer to
/// the system and page-faults it back on the next step, which measured 2-4x slower on
/// full-resolution ops (notes/norm-ops.md, notes/ops.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
