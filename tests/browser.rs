//! The report page in a real browser: headless Chromium renders the page
//! of a four-CPU case, the screenshot is not blank (it decodes, and has
//! many colours and a fair share of non-white pixels), and the DOM it
//! dumps has every CPU lane and every callback span of the trace.
//!
//! Not part of `cargo test` (`test = false` in Cargo.toml): run it by
//! name, `cargo test --release --test browser`, as `.ci/run` does after
//! installing Chromium. Without Chromium it fails with the install
//! command; it never skips.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hotplug_fi::engine::RunOpts;
use hotplug_fi::html::{self, About};
use hotplug_fi::verdict::{self, Scenario};

/// The flags the issue names, and what a screenshot needs besides.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-gpu",
    "--hide-scrollbars",
    "--window-size=1600,1100",
];

/// One Chromium run may take this long before it is killed.
const CHROMIUM_SECS: u64 = 120;

/// Runs that keep what a page draws (where each event ran, the locks).
fn opts() -> RunOpts {
    RunOpts { timeline: true, ..Default::default() }
}

fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser"] {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!("chromium is not installed: the browser test needs it (apt-get install chromium)");
}

/// Runs Chromium on `page` with `extra`, within [`CHROMIUM_SECS`];
/// returns its stdout.
fn run_chromium(page: &Path, extra: &str, profile: &Path) -> String {
    let mut child = Command::new(chromium())
        .args(FLAGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let mut stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).map(|_| s)
    });
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("waiting for chromium") {
            assert!(status.success(), "chromium {extra} exited with {status}");
            break;
        }
        if start.elapsed() > Duration::from_secs(CHROMIUM_SECS) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium {extra} took over {CHROMIUM_SECS} s and was killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().expect("the reader thread").expect("chromium's stdout")
}

/// Pixels of an RGB(A) screenshot: how many distinct colours, and the
/// share that is not white.
fn pixels(png_bytes: &[u8]) -> (u32, u32, usize, f64) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().expect("the screenshot is a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let step = info.color_type.samples();
    assert!(step >= 3, "an RGB screenshot, not {:?}", info.color_type);
    let px: Vec<&[u8]> = buf[..info.buffer_size()].chunks(step).collect();
    let colours: std::collections::BTreeSet<[u8; 3]> = px.iter().map(|p| [p[0], p[1], p[2]]).collect();
    let ink = px.iter().filter(|p| p[0] < 240 || p[1] < 240 || p[2] < 240).count();
    (info.width, info.height, colours.len(), ink as f64 / px.len() as f64)
}

#[test]
fn chromium_draws_every_cpu_lane_and_callback_of_a_four_cpu_page() {
    let case = common::case("stop_machine/four-cpus");
    let opts = opts();
    let run = verdict::run(&case, Scenario::plain(&case, &opts), &opts).expect("it runs");
    let want = common::page::expected(&case, &run, &opts);
    assert_eq!(want.cpus, 4);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let page = dir.path().join("four-cpus.html");
    std::fs::write(&page, html::page(&case, &run, &opts, &About::single(&run))).expect("the page is written");

    let shot = dir.path().join("shot.png");
    run_chromium(&page, &format!("--screenshot={}", shot.display()), &dir.path().join("p1"));
    let (w, h, colours, ink) = pixels(&std::fs::read(&shot).expect("chromium wrote the screenshot"));
    assert_eq!((w, h), (1600, 1100), "the window's size");
    assert!(colours >= 32, "a drawn page has many colours, this one {colours}");
    assert!(ink > 0.05, "a drawn page is not all white: {:.1}% ink", ink * 100.0);

    let dom = run_chromium(&page, "--dump-dom", &dir.path().join("p2"));
    assert!(dom.contains("<svg class=\"timeline\""), "the DOM has the timeline");
    assert_eq!(common::page::missing(&dom, &want), Vec::<String>::new());
    assert_eq!(common::page::shown(&dom).cpus, vec![0, 1, 2, 3]);
}
