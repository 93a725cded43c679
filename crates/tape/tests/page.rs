//! The page `Tape::to_html` writes, read without a browser: its embedded figures are the
//! engine's. The first frame's values and gradients are the tape's own; each slider
//! position's frame (made by replaying the tape) equals a tape recorded afresh at that
//! value; the tape is left as it was. (tests/browser/run.sh steps the page in Chromium.)

use tape::prelude::*;
use tape::Slider;

/// The embedded JSON of a page.
fn data(page: &str) -> serde_json::Value {
    let start = page
        .find("<script id=\"data\" type=\"application/json\">")
        .expect("data")
        + 42;
    let end = start + page[start..].find("</script>").expect("end of data");
    serde_json::from_str(&page[start..end]).expect("the page's data is JSON")
}

/// `(m·x + b − y)²` summed, at (m, b), with the gradients of m and b.
fn record(tape: &Tape, m: f64, b: f64) -> (Var<'_>, Var<'_>, Var<'_>) {
    let (mv, bv) = (tape.param(m), tape.param(b));
    let x = tape.constant([0.0, 1.0, 2.0, 3.0]);
    let y = tape.constant([1.0, 2.5, 2.9, 4.2]);
    ((mv * x + bv - y).square().sum(), mv, bv)
}

fn brief(t: &Tensor) -> String {
    if t.shape().is_empty() {
        return tape::fmt_g(t.item());
    }
    let shown: Vec<String> = t.data().iter().take(3).map(|v| tape::fmt_g(*v)).collect();
    let more = if t.numel() > 3 { ", …" } else { "" };
    format!("{:?} [{}{more}]", t.shape(), shown.join(", "))
}

#[test]
fn the_page_embeds_the_engines_figures_and_slider_frames_equal_fresh_tapes() {
    let tape = Tape::new();
    let (loss, m, b) = record(&tape, 0.5, 0.25);
    let values = vec![-1.0, 0.0, 0.5, 2.0];
    let sliders = [Slider {
        name: "m".into(),
        param: m,
        index: 0,
        values: values.clone(),
    }];
    let page = tape.to_html(loss, &sliders, "a <line> & its loss");
    assert!(!page.contains("<line>"), "the title is escaped");
    assert!(
        !page.contains("<script src") && !page.contains("<link"),
        "nothing fetched"
    );
    let d = data(&page);
    let n = tape.len();
    assert_eq!(d["nodes"].as_array().unwrap().len(), n);
    let frames = d["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 1 + values.len());
    // Frame 0: the tape as recorded.
    let g = loss.backward();
    assert_eq!(frames[0]["loss"], tape::fmt_g(loss.item()));
    assert_eq!(frames[0]["grads"][m.id()], brief(&g.get(m)));
    assert_eq!(frames[0]["grads"][b.id()], brief(&g.get(b)));
    // The multiply's rule, and what it sends m: Σ g·x (summed to m's shape), with
    // g = 2(m·x + b − y) (by hand).
    let mul = (0..n)
        .find(|&i| d["nodes"][i]["label"] == "#4 mul(#0, #2)")
        .expect("m·x is node 4");
    assert_eq!(d["nodes"][mul]["rule"], "∂a = g·b, ∂b = g·a");
    let r: Vec<f64> = [(0.0, 1.0), (1.0, 2.5), (2.0, 2.9), (3.0, 4.2)]
        .iter()
        .map(|(x, y)| 2.0 * (0.5 * x + 0.25 - y) * x)
        .collect();
    assert_eq!(frames[0]["sent"][mul][0], tape::fmt_g(r.iter().sum()));
    // Each slider frame: a fresh tape at that m.
    for (k, &v) in values.iter().enumerate() {
        let fresh = Tape::new();
        let (l, fm, fb) = record(&fresh, v, 0.25);
        let fg = l.backward();
        let frame = &frames[1 + k];
        assert_eq!(frame["loss"], tape::fmt_g(l.item()), "m = {v}");
        assert_eq!(frame["grads"][m.id()], brief(&fg.get(fm)), "m = {v}");
        assert_eq!(frame["grads"][b.id()], brief(&fg.get(fb)), "m = {v}");
    }
    assert_eq!(d["sliders"][0]["home"], 2); // 0.5, the recorded value
                                            // The tape has its values back.
    assert_eq!(
        (m.item(), loss.item()),
        (0.5, record(&Tape::new(), 0.5, 0.25).0.item())
    );
}
