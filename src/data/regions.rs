//! Counting targets in a mask: 8-connected regions and their areas (the same
//! connectivity the Pd / Fa metrics use). Private to `data`: the dataset summary and the
//! synthetic generator's self-checks need only the areas.

/// Areas (pixel counts) of the 8-connected regions of non-zero pixels, in raster order of
/// each region's first pixel.
pub(crate) fn region_areas(pixels: &[u8], width: usize, height: usize) -> Vec<usize> {
    assert_eq!(pixels.len(), width * height, "mask size");
    let mut visited = vec![false; pixels.len()];
    let mut areas = Vec::new();
    let mut stack = Vec::new();
    for start in 0..pixels.len() {
        if pixels[start] == 0 || visited[start] {
            continue;
        }
        visited[start] = true;
        stack.push(start);
        let mut area = 0;
        while let Some(index) = stack.pop() {
            area += 1;
            let (x, y) = (index % width, index / width);
            for ny in y.saturating_sub(1)..=(y + 1).min(height - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(width - 1) {
                    let neighbour = ny * width + nx;
                    if pixels[neighbour] != 0 && !visited[neighbour] {
                        visited[neighbour] = true;
                        stack.push(neighbour);
                    }
                }
            }
        }
        areas.push(area);
    }
    areas
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagonal_neighbours_join_and_gaps_separate() {
        #[rustfmt::skip]
        let mask = [
            1, 0, 0, 0, 1,
            0, 1, 0, 0, 1,
            0, 0, 0, 0, 0,
            1, 1, 0, 1, 0,
        ];
        assert_eq!(region_areas(&mask, 5, 4), vec![2, 2, 2, 1]);
        assert!(region_areas(&[0; 6], 3, 2).is_empty());
        assert_eq!(region_areas(&[1; 6], 3, 2), vec![6]);
    }
}
