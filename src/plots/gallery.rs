//! `gallery.png`: a contact sheet of the worst images of an evaluation by per-image IoU, each
//! an outline overlay labelled with its id and IoU, worst first (left to right, top down).

use super::{draw_on, write_png, PlotError};
use image::RgbImage;
use plotters::prelude::*;
use std::path::Path;

/// How many images the sheet shows.
pub const GALLERY_IMAGES: usize = 16;
/// Tiles per row.
pub const GALLERY_COLUMNS: u32 = 4;
/// Each overlay is scaled to fit a square of this side.
pub const TILE: u32 = 256;
/// The height of the label under each tile.
pub const LABEL_HEIGHT: u32 = 26;
/// The height of the sheet's title.
pub const TITLE_HEIGHT: u32 = 40;
/// The gap around tiles.
pub const GAP: u32 = 8;

/// The size of a sheet of `tiles` images: four tiles per row, as many rows as needed.
pub fn gallery_size(tiles: usize) -> (u32, u32) {
    let rows = (tiles as u32).div_ceil(GALLERY_COLUMNS).max(1);
    (
        GALLERY_COLUMNS * (TILE + GAP) + GAP,
        TITLE_HEIGHT + rows * (TILE + LABEL_HEIGHT + GAP),
    )
}

/// One image of the sheet.
pub struct GalleryTile {
    pub id: String,
    pub iou: f64,
    /// The overlay, at most [`TILE`] on its longer side.
    pub overlay: RgbImage,
}

/// Keeps the [`GALLERY_IMAGES`] images of lowest IoU offered to it.
#[derive(Default)]
pub struct WorstImages {
    tiles: Vec<GalleryTile>,
}

impl WorstImages {
    /// Whether an image of this IoU would be kept (so that its overlay is worth drawing).
    pub fn would_keep(&self, iou: f64) -> bool {
        self.tiles.len() < GALLERY_IMAGES || self.tiles.iter().any(|tile| iou < tile.iou)
    }

    /// Offers an image; the best of the kept ones drops out once there are too many.
    pub fn offer(&mut self, tile: GalleryTile) {
        if !self.would_keep(tile.iou) {
            return;
        }
        self.tiles.push(tile);
        self.tiles.sort_by(|a, b| a.iou.total_cmp(&b.iou));
        self.tiles.truncate(GALLERY_IMAGES);
    }

    /// The kept images, worst first.
    pub fn tiles(&self) -> &[GalleryTile] {
        &self.tiles
    }
}

/// Writes the sheet of `tiles` (worst first) to `path`; `title` heads it.
pub fn write_gallery(path: &Path, title: &str, tiles: &[GalleryTile]) -> Result<(), PlotError> {
    let (width, height) = gallery_size(tiles.len());
    let mut sheet = RgbImage::from_pixel(width, height, image::Rgb([255, 255, 255]));
    let origin = |index: usize| {
        let (column, row) = (
            index as u32 % GALLERY_COLUMNS,
            index as u32 / GALLERY_COLUMNS,
        );
        (
            GAP + column * (TILE + GAP),
            TITLE_HEIGHT + row * (TILE + LABEL_HEIGHT + GAP),
        )
    };
    for (index, tile) in tiles.iter().enumerate() {
        let (x, y) = origin(index);
        let (tile_width, tile_height) = tile.overlay.dimensions();
        // Centred in its square.
        let (x, y) = (
            x + (TILE - tile_width.min(TILE)) / 2,
            y + (TILE - tile_height.min(TILE)) / 2,
        );
        image::imageops::replace(&mut sheet, &tile.overlay, x.into(), y.into());
    }
    let sheet = draw_on(sheet, |root| {
        root.draw(&Text::new(
            title,
            (GAP as i32, 10),
            ("sans-serif", 20).into_font().color(&BLACK),
        ))?;
        for (index, tile) in tiles.iter().enumerate() {
            let (x, y) = origin(index);
            root.draw(&Text::new(
                format!("{}  IoU {:.3}", tile.id, tile.iou),
                (x as i32, (y + TILE + 4) as i32),
                ("sans-serif", 16).into_font().color(&BLACK),
            ))?;
        }
        Ok(())
    })
    .map_err(|problem| PlotError::new(path, problem))?;
    write_png(path, &sheet)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tile(iou: f64) -> GalleryTile {
        GalleryTile {
            id: format!("{iou}"),
            iou,
            overlay: RgbImage::new(1, 1),
        }
    }

    #[test]
    fn the_worst_sixteen_are_kept_worst_first() {
        let mut worst = WorstImages::default();
        for i in 0..40 {
            worst.offer(tile(f64::from((i * 17) % 40) / 40.0));
        }
        let kept: Vec<f64> = worst.tiles().iter().map(|t| t.iou).collect();
        let expected: Vec<f64> = (0..16).map(|i| f64::from(i) / 40.0).collect();
        assert_eq!(kept, expected);
        assert!(!worst.would_keep(0.5) && worst.would_keep(0.1));
    }

    #[test]
    fn the_sheet_has_four_columns_and_as_many_rows_as_needed() {
        assert_eq!(gallery_size(16), (1064, 40 + 4 * 290));
        assert_eq!(gallery_size(5), (1064, 40 + 2 * 290));
        assert_eq!(gallery_size(0), (1064, 40 + 290));
    }
}
