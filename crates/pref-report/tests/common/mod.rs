//! Test helpers: decode a PNG with the `png` crate and look at its pixels.
#![allow(dead_code)]

pub struct Image {
    pub width: u32,
    pub height: u32,
    /// RGB pixels, row-major.
    pub rgb: Vec<[u8; 3]>,
}

impl Image {
    pub fn decode(bytes: &[u8]) -> Image {
        let dec = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = dec.read_info().expect("PNG header decodes");
        let mut buf = vec![0; reader.output_buffer_size().expect("buffer size")];
        let info = reader.next_frame(&mut buf).expect("PNG data decodes");
        assert_eq!(info.color_type, png::ColorType::Rgb);
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        let rgb = buf[..info.buffer_size()]
            .chunks_exact(3)
            .map(|c| [c[0], c[1], c[2]])
            .collect();
        Image {
            width: info.width,
            height: info.height,
            rgb,
        }
    }

    pub fn px(&self, x: u32, y: u32) -> [u8; 3] {
        self.rgb[(y * self.width + x) as usize]
    }

    /// Pixels in rows `y0..y1` whose every channel is below 90 (black text, axes).
    pub fn dark_in_rows(&self, y0: u32, y1: u32) -> usize {
        (y0..y1.min(self.height))
            .flat_map(|y| (0..self.width).map(move |x| (x, y)))
            .filter(|&(x, y)| self.px(x, y).iter().all(|&c| c < 90))
            .count()
    }

    pub fn distinct_colours(&self) -> usize {
        let mut v = self.rgb.clone();
        v.sort_unstable();
        v.dedup();
        v.len()
    }

    pub fn non_white_fraction(&self) -> f64 {
        let n = self.rgb.iter().filter(|p| **p != [255, 255, 255]).count();
        n as f64 / self.rgb.len() as f64
    }
}

pub fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}
