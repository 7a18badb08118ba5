//! PDF documents in Chinese (inspection reports, label sheets) with krilla: the CJK font is read
//! from the system (Debian `fonts-noto-cjk`, the Simplified Chinese face of the collection) and
//! subset into each document, so a report stays a few tens of kilobytes.

use std::sync::OnceLock;

use krilla::Document;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::text::{Font, TextDirection};

use crate::error::{ApiError, ApiResult};

/// Where the CJK font is looked for, with the face index of Simplified Chinese in each file.
const FONTS: &[(&str, u32)] = &[
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
];

static FONT: OnceLock<Option<Font>> = OnceLock::new();

/// The CJK font, loaded once.
pub fn font() -> ApiResult<Font> {
    FONT.get_or_init(|| {
        FONTS.iter().find_map(|(path, index)| {
            let data = std::fs::read(path).ok()?;
            Font::new(data.into(), *index)
        })
    })
    .clone()
    .ok_or_else(|| {
        ApiError::Internal(
            "no CJK font found: install the Debian package fonts-noto-cjk".to_owned(),
        )
    })
}

/// A4 in points.
pub const A4: (f32, f32) = (595.0, 842.0);

/// One page being drawn: text lines, rules and filled boxes, top-left origin in points.
pub struct Page<'a> {
    surface: krilla::surface::Surface<'a>,
    font: Font,
}

impl Page<'_> {
    pub fn text(&mut self, x: f32, y: f32, size: f32, s: &str) {
        self.surface.draw_text(
            Point::from_xy(x, y),
            self.font.clone(),
            size,
            s,
            false,
            TextDirection::Auto,
        );
    }

    pub fn line(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, width: f32) {
        let mut pb = PathBuilder::new();
        pb.move_to(x1, y1);
        pb.line_to(x2, y2);
        if let Some(path) = pb.finish() {
            self.surface.set_fill(None);
            self.surface.set_stroke(Some(Stroke {
                width,
                ..Default::default()
            }));
            self.surface.draw_path(&path);
            self.surface.set_stroke(None);
            self.surface.set_fill(Some(Fill::default()));
        }
    }

    /// Filled black rectangles (QR modules, barcode bars) in one path.
    pub fn boxes(&mut self, rects: impl IntoIterator<Item = (f32, f32, f32, f32)>) {
        let mut pb = PathBuilder::new();
        for (x, y, w, h) in rects {
            if let Some(r) = Rect::from_xywh(x, y, w, h) {
                pb.push_rect(r);
            }
        }
        if let Some(path) = pb.finish() {
            self.surface.set_fill(Some(Fill::default()));
            self.surface.draw_path(&path);
        }
    }
}

/// A document of `pages` pages of `size`, each drawn by `draw(page_number, page)`.
pub fn document(
    pages: usize,
    size: (f32, f32),
    mut draw: impl FnMut(usize, &mut Page<'_>),
) -> ApiResult<Vec<u8>> {
    let font = font()?;
    let mut doc = Document::new();
    for n in 0..pages {
        let settings = PageSettings::from_wh(size.0, size.1)
            .ok_or_else(|| ApiError::Internal("page size".to_owned()))?;
        let mut page = doc.start_page_with(settings);
        {
            let mut p = Page {
                surface: page.surface(),
                font: font.clone(),
            };
            draw(n, &mut p);
            p.surface.finish();
        }
        page.finish();
    }
    doc.finish()
        .map_err(|e| ApiError::Internal(format!("PDF: {e:?}")))
}
