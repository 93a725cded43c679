//! The tape as a page to step through: one self-contained HTML file (no network, no
//! server, no framework) with the graph laid out as in `picture.rs`, where a learner steps
//! the forward pass and then the backward pass node by node. Each step lights a node and
//! shows what it computed: going forward, its inputs' values and its own; going back, its
//! adjoint, its rule (`Op::spec`) and what it sends each input. Sliders move a parameter
//! and show the loss and the gradients change. Every number on the page is computed here,
//! by the engine (the sliders' positions by replaying the tape with `set_values`), and
//! embedded: the page only shows them. Not a hot path.

use crate::picture::{brief, escape, Drawing, H};
use crate::tape::{Kind, Tape, Var};
use crate::tensor::Tensor;
use crate::Op;
use smallvec::SmallVec;
use std::fmt::Write;

/// A slider of a page ([`Tape::to_html`]): element `index` of parameter `param` (0 for a
/// number), named `name`, taking each of `values`.
#[derive(Clone, Debug)]
pub struct Slider<'t> {
    /// The label, as `m` or `w[1]`.
    pub name: String,
    /// The parameter it moves.
    pub param: Var<'t>,
    /// Which element of the parameter.
    pub index: usize,
    /// The values it takes, in order.
    pub values: Vec<f64>,
}

/// A string as a JSON string literal, safe inside a `<script>` element.
fn json(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn list(items: impl IntoIterator<Item = String>) -> String {
    format!("[{}]", items.into_iter().collect::<Vec<_>>().join(","))
}

impl Tape {
    /// One frame of the page: every node's value and adjoint, and what each node's rule
    /// sends each input, for a backward pass from `output` at the parameters' current values.
    fn frame(&self, output: Var<'_>, label: &str) -> (String, usize) {
        let grads = output.backward();
        let inner = self.inner.borrow();
        let n = inner.nodes.len();
        let (mut values, mut adjoints, mut sent) = (Vec::new(), Vec::new(), Vec::new());
        let mut longest = 0;
        for i in 0..n {
            let node = inner.nodes[i];
            let value = brief(&inner.value(i as u32));
            let g = grads.adjoint_in(&inner, i).filter(|_| node.op != Op::Const);
            let grad = g.as_ref().map(brief).unwrap_or_default();
            longest = longest.max(value.chars().count()).max(grad.chars().count());
            values.push(json(&value));
            adjoints.push(json(&grad));
            let ins = inner.spec(node.op).inputs;
            let reached = g.is_some() && !ins.is_empty();
            let to: Vec<String> = match (&g, reached) {
                (Some(g), true) => {
                    let need: SmallVec<[bool; 4]> = ins.iter().map(|_| true).collect();
                    let out: Vec<Option<Tensor>> = match node.op {
                        Op::Custom(k) => inner.custom_vjp(i, k, g, &need),
                        op => {
                            let xs: SmallVec<[Tensor; 4]> =
                                ins.iter().map(|&j| inner.value(j)).collect();
                            op.vjp(&xs, &inner.value(i as u32), g, [true, true])
                                .into_iter()
                                .take(ins.len())
                                .collect()
                        }
                    };
                    out.iter()
                        .map(|d| json(&d.as_ref().map(brief).unwrap_or_default()))
                        .collect()
                }
                _ => Vec::new(),
            };
            sent.push(list(to));
        }
        let loss = match inner.nodes[output.id()].value.kind() {
            Kind::Scalar(v) => crate::fmt_g(v),
            Kind::Tensor(_) => brief(&inner.value(output.id)),
        };
        let frame = format!(
            "{{\"label\":{},\"loss\":{},\"values\":{},\"grads\":{},\"sent\":{}}}",
            json(label),
            json(&loss),
            list(values),
            list(adjoints),
            list(sent)
        );
        (frame, longest)
    }

    /// The recorded graph as one self-contained HTML page to step through: the forward
    /// pass, then the backward pass from `output`, node by node (keys → and ←, or the
    /// buttons), each step showing the numbers the node computed; a slider per entry of
    /// `sliders` moves that parameter over its values and shows the loss and every
    /// gradient there (the tape is replayed at each value, then given its values back).
    ///
    /// ```
    /// use tape::{prelude::*, Slider};
    /// let tape = Tape::new();
    /// let m = tape.param(0.5);
    /// let loss = (m * 3.0 - 2.0).square();
    /// let page = tape.to_html(loss, &[Slider { name: "m".into(), param: m, index: 0, values: vec![0.0, 1.0] }], "a line");
    /// assert!(page.starts_with("<!DOCTYPE html>") && page.contains("\"grads\""));
    /// assert_eq!(m.item(), 0.5); // given its value back
    /// ```
    #[track_caller]
    pub fn to_html(&self, output: Var<'_>, sliders: &[Slider<'_>], title: &str) -> String {
        self.same_tape("to_html", &output);
        let (first, mut longest) = self.frame(output, "as recorded");
        let mut frames = vec![first];
        let mut slider_json = Vec::new();
        for s in sliders {
            self.same_tape("to_html", &s.param);
            let start = s.param.value();
            assert!(
                s.index < start.numel(),
                "to_html: slider {}: element {} of a parameter of {} elements",
                s.name,
                s.index,
                start.numel()
            );
            let at = |v: f64| {
                let mut t = start.clone();
                t.data_mut()[s.index] = v;
                t
            };
            let first = frames.len();
            for &v in &s.values {
                self.set_values([(s.param, at(v))]);
                let (frame, wide) =
                    self.frame(output, &format!("{} = {}", s.name, crate::fmt_g(v)));
                frames.push(frame);
                longest = longest.max(wide);
            }
            self.set_values([(s.param, start.clone())]);
            let now = start.data()[s.index];
            // The slider starts at the value nearest the recorded one.
            let home = s
                .values
                .iter()
                .enumerate()
                .min_by(|a, b| (a.1 - now).abs().total_cmp(&(b.1 - now).abs()))
                .map_or(0, |(k, _)| k);
            slider_json.push(format!(
                "{{\"name\":{},\"first\":{first},\"values\":{},\"home\":{home}}}",
                json(&s.name),
                list(s.values.iter().map(|v| json(&crate::fmt_g(*v)))),
            ));
        }
        // Boxes wide enough for the label and for "value …" and "grad …" at every frame.
        let (nodes, width, height, w) = self.page_nodes(longest + 6);
        let data = format!(
            "{{\"title\":{},\"w\":{w},\"h\":{H},\"width\":{width},\"height\":{height},\"output\":{},\"nodes\":{},\"sliders\":{},\"frames\":{}}}",
            json(title),
            output.id(),
            list(nodes),
            list(slider_json),
            list(frames)
        );
        PAGE.replace("{{TITLE}}", &escape(title))
            .replace("{{DATA}}", &data)
    }

    /// Each node as the page draws it (label, kind, inputs, rule, place), and the
    /// picture's size and box width (room for `chars` characters at least).
    fn page_nodes(&self, chars: usize) -> (Vec<String>, f64, f64, f64) {
        let inner = self.inner.borrow();
        let n = inner.nodes.len();
        let labels: Vec<String> = (0..n)
            .map(|i| format!("#{i} {}", crate::show::describe(&inner, &inner.nodes[i].op)))
            .collect();
        let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
        let d = Drawing::new(&inner, longest.max(chars));
        let nodes = (0..n)
            .map(|i| {
                let op = inner.nodes[i].op;
                let spec = inner.spec(op);
                let kind = match op {
                    Op::Param => "param",
                    Op::Const => "const",
                    _ => "op",
                };
                let (x, y) = d.at[i];
                format!(
                    "{{\"label\":{},\"kind\":\"{kind}\",\"inputs\":{},\"rule\":{},\"x\":{x},\"y\":{y}}}",
                    json(&labels[i]),
                    list(d.inputs[i].iter().map(|j| j.to_string())),
                    json(spec.rule),
                )
            })
            .collect();
        (nodes, d.width, d.height, d.w)
    }
}

/// The page: markup, style and the script that steps; `{{DATA}}` is the engine's figures.
const PAGE: &str = r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{TITLE}}: the tape, step by step</title>
<style>
body { font-family: system-ui, sans-serif; margin: 16px; color: #111; }
h1 { font-size: 18px; margin: 0 0 8px; }
#controls { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; margin-bottom: 8px; }
button { font-size: 14px; padding: 4px 10px; }
#phase { font-weight: 600; margin-left: 8px; }
#panel { font-family: monospace; white-space: pre-wrap; background: #f8fafc; border: 1px solid #cbd5e1; padding: 8px 10px; min-height: 96px; margin: 8px 0; }
#readout { font-family: monospace; margin: 4px 0 8px; }
.sliders label { font-family: monospace; margin-right: 16px; }
#graph { overflow: auto; border: 1px solid #e5e7eb; }
svg text { font-family: monospace; font-size: 12px; }
.node rect { fill: #f3f4f6; stroke: #333; }
.node.param rect { fill: #dbeafe; }
.node.const rect { fill: #fff; stroke-dasharray: 4 3; }
.node.current rect { stroke: #dc2626; stroke-width: 3; }
.node.input rect { stroke: #2563eb; stroke-width: 2; }
.grad { fill: #b45309; }
.edge { fill: none; stroke: #9ca3af; }
.edge.lit { stroke: #dc2626; stroke-width: 2; }
.hint { color: #555; font-size: 13px; }
</style>
</head>
<body>
<h1>{{TITLE}}</h1>
<div id="controls">
<button id="first" title="Home">« start</button>
<button id="prev" title="←">◀ back</button>
<button id="next" title="→ or space">next ▶</button>
<button id="last" title="End">end »</button>
<span id="phase"></span>
</div>
<div class="hint">Keys: → or space next step, ← previous, Home start, End the whole backward pass. The forward pass computes each node from its inputs; the backward pass then visits the nodes last to first, and each node's rule sends its adjoint on to its inputs.</div>
<div id="panel"></div>
<div id="readout"></div>
<div class="sliders" id="sliders"></div>
<div id="graph"></div>
<script id="data" type="application/json">{{DATA}}</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const n = D.nodes.length;
const NS = "http://www.w3.org/2000/svg";
let step = -1; // 0..n-1: forward at node step; n..2n-1: backward at node 2n-1-step
let frame = 0;
const el = (tag, attrs, parent) => {
  const e = document.createElementNS(NS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  parent.appendChild(e);
  return e;
};
const svg = el("svg", { width: D.width, height: D.height, viewBox: `0 0 ${D.width} ${D.height}` }, document.getElementById("graph"));
const edges = [];
D.nodes.forEach((node, i) => node.inputs.forEach((j) => {
  const a = D.nodes[j];
  const sx = a.x + D.w, sy = a.y + D.h / 2, ex = node.x, ey = node.y + D.h / 2, mid = (sx + ex) / 2;
  edges.push({ from: j, to: i, e: el("path", { class: "edge", d: `M ${sx} ${sy} C ${mid} ${sy}, ${mid} ${ey}, ${ex} ${ey}` }, svg) });
}));
const boxes = D.nodes.map((node, i) => {
  const g = el("g", { class: `node ${node.kind}`, "data-id": i }, svg);
  el("rect", { x: node.x, y: node.y, width: D.w, height: D.h, rx: 4 }, g);
  const label = el("text", { x: node.x + 6, y: node.y + 16 }, g);
  label.textContent = node.label;
  return { g, value: el("text", { class: "value", x: node.x + 6, y: node.y + 33 }, g), grad: el("text", { class: "grad", x: node.x + 6, y: node.y + 50 }, g) };
});
const sliderBox = document.getElementById("sliders");
const inputs = D.sliders.map((s, k) => {
  const label = document.createElement("label");
  const input = document.createElement("input");
  Object.assign(input, { type: "range", min: 0, max: s.values.length - 1, step: 1, value: s.home });
  input.dataset.slider = k;
  const shown = document.createElement("span");
  label.append(`${s.name} `, input, shown);
  sliderBox.appendChild(label);
  input.addEventListener("input", () => {
    inputs.forEach((other, o) => { if (o !== k) other.input.value = D.sliders[o].home; });
    frame = s.first + Number(input.value);
    render();
  });
  return { input, shown };
});
const visited = (i) => step >= n && 2 * n - 1 - step <= i; // backward has reached node i
function describeForward(i, F) {
  const node = D.nodes[i];
  if (node.kind !== "op") return `${node.label}: a ${node.kind === "param" ? "parameter" : "constant"}, value ${F.values[i]}`;
  const ins = node.inputs.map((j) => `  #${j} = ${F.values[j]}`).join("\n");
  return `forward: ${node.label}\n${ins}\n  value = ${F.values[i]}`;
}
function describeBackward(i, F) {
  const node = D.nodes[i];
  const g = F.grads[i] === "" ? "(no gradient: a constant)" : F.grads[i];
  if (node.inputs.length === 0) return `backward: ${node.label}\n  adjoint ∂out/∂#${i} = ${g}\n  ${node.rule}`;
  const sent = node.inputs.map((j, k) => `  to #${j}: ${F.sent[i][k] === undefined || F.sent[i][k] === "" ? "nothing (not reached)" : "+= " + F.sent[i][k]}`).join("\n");
  const ins = node.inputs.map((j) => `#${j} = ${F.values[j]}`).join(", ");
  return `backward: ${node.label}\n  g = ∂out/∂#${i} = ${g}\n  rule: ${node.rule}\n  with ${ins}, value ${F.values[i]}\n${sent}`;
}
function render() {
  const F = D.frames[frame];
  const current = step < 0 ? -1 : step < n ? step : 2 * n - 1 - step;
  boxes.forEach((b, i) => {
    const known = step >= i || step >= n;
    b.value.textContent = `value ${known ? F.values[i] : "?"}`;
    b.grad.textContent = visited(i) && F.grads[i] !== "" ? `grad ${F.grads[i]}` : D.nodes[i].kind === "const" ? "" : "grad ?";
    b.g.classList.toggle("current", i === current);
    b.g.classList.toggle("input", current >= 0 && D.nodes[current].inputs.includes(i));
  });
  edges.forEach((e) => e.e.classList.toggle("lit", e.to === current));
  document.getElementById("phase").textContent = step < 0 ? "ready" : step < n ? `forward, node ${step + 1} of ${n}` : `backward, node ${step - n + 1} of ${n}`;
  document.getElementById("panel").textContent = step < 0 ? "Press → to compute the first node." : step < n ? describeForward(current, F) : describeBackward(current, F);
  const grads = D.nodes.map((node, i) => node.kind === "param" ? `∂out/∂#${i} = ${F.grads[i]}` : null).filter((x) => x);
  document.getElementById("readout").textContent = `${F.label}: output #${D.output} = ${F.loss}; ${grads.join("; ")}`;
  inputs.forEach((s, k) => { s.shown.textContent = ` ${D.sliders[k].values[Number(s.input.value)]}`; });
  document.body.dataset.step = step;
}
const go = (s) => { step = Math.max(-1, Math.min(2 * n - 1, s)); render(); };
document.getElementById("first").onclick = () => go(-1);
document.getElementById("prev").onclick = () => go(step - 1);
document.getElementById("next").onclick = () => go(step + 1);
document.getElementById("last").onclick = () => go(2 * n - 1);
document.addEventListener("keydown", (e) => {
  if (e.target instanceof HTMLInputElement) return;
  const to = { ArrowRight: step + 1, " ": step + 1, ArrowLeft: step - 1, Home: -1, End: 2 * n - 1 }[e.key];
  if (to !== undefined) { e.preventDefault(); go(to); }
});
render();
</script>
</body>
</html>
"##;
