//! The html page (`gsslog report sshd --format html ROOT`) in a real
//! headless Chromium (Debian's `chromium`, installed by tests/setup.sh):
//! the DOM it builds holds the three charts with their bars, and its
//! screenshot shows them (pixels of the charts' colours; the page's tables
//! have none). The page and the screenshot are kept in the target folder
//! (`report_html/`) to look at.

mod report_support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use report_support::{report, tree, MemSource};

fn chromium() -> &'static str {
    let found = Command::new("chromium").arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(found, "chromium is not installed: run tests/setup.sh (Debian package chromium)");
    "chromium"
}

/// Runs headless Chromium on `page` with `args`; its stdout.
fn headless(page: &Path, profile: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new(chromium())
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars", "--force-device-scale-factor=1"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap_or_else(|e| panic!("cannot run chromium: {e}"));
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn the_html_page_renders_its_charts_in_chromium() {
    let source = MemSource::new(&tree(3, 150), 60, 5);
    let html = report(&source, &["--format", "html"]).unwrap_or_else(|e| panic!("{e}"));
    // Self-contained: nothing fetched from anywhere.
    for outside in ["<script", "<link", "src=", "@import", "url("] {
        assert!(!html.contains(outside), "the page refers outside: {outside}");
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report_html");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let page = dir.join("sshd.html");
    std::fs::write(&page, &html).unwrap_or_else(|e| panic!("{e}"));
    let profile = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));

    let dom = String::from_utf8_lossy(&headless(&page, profile.path(), &["--dump-dom"])).into_owned();
    for id in ["chart-time-profile", "chart-top-remotes", "chart-failures-per-day"] {
        let at = dom.find(&format!("<svg id=\"{id}\"")).unwrap_or_else(|| panic!("no {id} in the DOM"));
        let svg = &dom[at..at + dom[at..].find("</svg>").unwrap_or_else(|| panic!("{id} not closed"))];
        assert!(svg.matches("<rect").count() > 5, "{id} has no bars");
    }
    assert!(dom.contains("<th>principal</th>") && dom.contains("@EXAMPLE.ORG"), "the logins table is missing");

    let png = dir.join("sshd.png");
    let _ = std::fs::remove_file(&png);
    headless(&page, profile.path(), &[&format!("--screenshot={}", png.display()), "--window-size=1000,1300"]);
    let image = decode_png(&std::fs::read(&png).unwrap_or_else(|e| panic!("no screenshot: {e}")));
    assert_eq!((image.width, image.height), (1000, 1300));
    // The charts' colours: Failed red (#c62828) and Accepted green (#2e7d32).
    let red = image.count(|p| p == [0xc6, 0x28, 0x28]);
    let green = image.count(|p| p == [0x2e, 0x7d, 0x32]);
    assert!(red > 2000, "only {red} red pixels: the failure charts did not render");
    assert!(green > 100, "only {green} green pixels: the time profile did not render");
    // Each chart's area (its rows of the screenshot) has bars in it.
    let rows_with_red: Vec<u32> = (0..image.height).filter(|&y| (0..image.width).any(|x| image.pixel(x, y) == [0xc6, 0x28, 0x28])).collect();
    let bands = rows_with_red.windows(2).filter(|w| w[1] - w[0] > 20).count() + 1;
    assert!(bands >= 3, "red bars in {bands} separate bands, not the three charts");
}

/// An 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes).
struct Image {
    width: u32,
    height: u32,
    channels: usize,
    pixels: Vec<u8>,
}

impl Image {
    fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = (y as usize * self.width as usize + x as usize) * self.channels;
        [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]]
    }

    fn count(&self, f: impl Fn([u8; 3]) -> bool) -> usize {
        self.pixels.chunks(self.channels).filter(|p| f([p[0], p[1], p[2]])).count()
    }
}

fn decode_png(bytes: &[u8]) -> Image {
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let mut at = 8;
    let (mut width, mut height, mut channels) = (0u32, 0u32, 0usize);
    let mut data = Vec::new();
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        let kind = &bytes[at + 4..at + 8];
        let body = &bytes[at + 8..at + 8 + len];
        match kind {
            b"IHDR" => {
                width = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                height = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
                assert_eq!((body[8], body[12]), (8, 0), "only 8-bit non-interlaced PNGs");
                channels = match body[9] {
                    2 => 3,
                    6 => 4,
                    other => panic!("PNG colour type {other}"),
                };
            }
            b"IDAT" => data.extend_from_slice(body),
            _ => {}
        }
        at += 12 + len;
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&data[..]).read_to_end(&mut raw).unwrap_or_else(|e| panic!("PNG data: {e}"));
    let stride = width as usize * channels;
    let mut pixels = vec![0u8; stride * height as usize];
    for y in 0..height as usize {
        let line = &raw[y * (stride + 1)..(y + 1) * (stride + 1)];
        let (filter, line) = (line[0], &line[1..]);
        for x in 0..stride {
            let a = if x >= channels { pixels[y * stride + x - channels] } else { 0 };
            let b = if y > 0 { pixels[(y - 1) * stride + x] } else { 0 };
            let c = if y > 0 && x >= channels { pixels[(y - 1) * stride + x - channels] } else { 0 };
            let predicted = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                4 => {
                    let p = i16::from(a) + i16::from(b) - i16::from(c);
                    let (pa, pb, pc) = ((p - i16::from(a)).abs(), (p - i16::from(b)).abs(), (p - i16::from(c)).abs());
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                other => panic!("PNG filter {other}"),
            };
            pixels[y * stride + x] = line[x].wrapping_add(predicted);
        }
    }
    Image { width, height, channels, pixels }
}
