//! The tape as a picture: an SVG with one box per node (its op, its value and, given the
//! gradients of a backward pass, its adjoint, as micrograd's `draw_dot` shows them) and
//! one edge per input, laid out left to right by a layered layout written here (so no
//! Graphviz is needed): a node's column is its depth (the longest path from a leaf), and
//! within a column nodes are ordered by the mean row of their inputs (the barycenter
//! heuristic of Sugiyama, Tagawa and Toda, 1981), which keeps most edges from crossing.
//! Tensors are shown by their shape and first values.

use crate::tape::{Inner, Tape};
use crate::tensor::Tensor;
use crate::{Gradients, Op};

/// Box and gap sizes, in SVG units; a box is as wide as its longest line needs (at least
/// `MIN_W`), at `CHAR_W` a character of 12-point monospace.
const MIN_W: f64 = 150.0;
const CHAR_W: f64 = 7.3;
pub(crate) const H: f64 = 58.0;
const GAP_X: f64 = 70.0;
const GAP_Y: f64 = 18.0;
const MARGIN: f64 = 20.0;

/// A value as a box shows it: a number, or the shape and the first three values.
pub(crate) fn brief(t: &Tensor) -> String {
    if t.shape().is_empty() {
        return crate::fmt_g(t.item());
    }
    let shown: Vec<String> = t.data().iter().take(3).map(|v| crate::fmt_g(*v)).collect();
    let more = if t.numel() > 3 { ", …" } else { "" };
    format!("{:?} [{}{more}]", t.shape(), shown.join(", "))
}

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Where each node goes: (column, row).
fn layout(inputs: &[Vec<usize>]) -> Vec<(usize, usize)> {
    let n = inputs.len();
    let mut depth = vec![0usize; n];
    for i in 0..n {
        depth[i] = inputs[i].iter().map(|&j| depth[j] + 1).max().unwrap_or(0);
    }
    let columns = depth.iter().max().map_or(0, |d| d + 1);
    let mut row = vec![0usize; n];
    let mut place = vec![(0usize, 0usize); n];
    for c in 0..columns {
        let mut members: Vec<usize> = (0..n).filter(|&i| depth[i] == c).collect();
        // The barycenter of a node's inputs' rows (leaves keep recording order).
        let key = |i: usize| -> f64 {
            if inputs[i].is_empty() {
                i as f64
            } else {
                inputs[i].iter().map(|&j| row[j] as f64).sum::<f64>() / inputs[i].len() as f64
            }
        };
        members.sort_by(|&a, &b| key(a).total_cmp(&key(b)).then(a.cmp(&b)));
        for (r, &i) in members.iter().enumerate() {
            row[i] = r;
            place[i] = (c, r);
        }
    }
    place
}

/// A tape laid out for drawing: each node's inputs, the top-left corner of its box, the
/// boxes' width (room for `chars` characters of a line) and the picture's size.
pub(crate) struct Drawing {
    pub(crate) inputs: Vec<Vec<usize>>,
    pub(crate) at: Vec<(f64, f64)>,
    pub(crate) w: f64,
    pub(crate) width: f64,
    pub(crate) height: f64,
}

impl Drawing {
    pub(crate) fn new(inner: &Inner, chars: usize) -> Drawing {
        let inputs: Vec<Vec<usize>> = inner
            .nodes
            .iter()
            .map(|node| {
                inner
                    .spec(node.op)
                    .inputs
                    .iter()
                    .map(|&j| j as usize)
                    .collect()
            })
            .collect();
        let place = layout(&inputs);
        let w = (chars as f64 * CHAR_W + 12.0).max(MIN_W).ceil();
        let cols = place.iter().map(|p| p.0 + 1).max().unwrap_or(0);
        let rows = place.iter().map(|p| p.1 + 1).max().unwrap_or(0);
        let at = place
            .iter()
            .map(|&(c, r)| {
                (
                    MARGIN + c as f64 * (w + GAP_X),
                    MARGIN + r as f64 * (H + GAP_Y),
                )
            })
            .collect();
        Drawing {
            inputs,
            at,
            w,
            width: 2.0 * MARGIN + cols as f64 * w + cols.saturating_sub(1) as f64 * GAP_X,
            height: 2.0 * MARGIN + rows as f64 * H + rows.saturating_sub(1) as f64 * GAP_Y,
        }
    }
}

impl Tape {
    /// The recorded graph as an SVG picture: a box per node with its op, value and (given
    /// the gradients of a backward pass) its adjoint, an edge per input, left to right in
    /// evaluation order. Parameters are filled blue, constants dashed.
    ///
    /// ```
    /// let tape = tape::Tape::new();
    /// let x = tape.param(2.0);
    /// let y = x * x + 1.0;
    /// let svg = tape.to_svg(Some(&y.backward()));
    /// assert_eq!(svg.matches("class=\"node\"").count(), 4); // x, x·x, 1, +
    /// assert!(svg.contains("grad 4")); // dy/dx = 2x
    /// ```
    pub fn to_svg(&self, grads: Option<&Gradients<'_>>) -> String {
        let inner = self.inner.borrow();
        let n = inner.nodes.len();
        // Each box's three lines, and the width the longest of them needs.
        let lines: Vec<[String; 3]> = (0..n)
            .map(|i| {
                let node = &inner.nodes[i];
                let grad = match grads.and_then(|g| g.adjoint(i)) {
                    Some(g) if !matches!(node.op, Op::Const) => format!("grad {}", brief(&g)),
                    _ => String::new(),
                };
                [
                    format!("#{i} {}", crate::show::describe(&inner, &node.op)),
                    format!("value {}", brief(&inner.value(i as u32))),
                    grad,
                ]
            })
            .collect();
        let longest = lines
            .iter()
            .flatten()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0);
        let Drawing {
            inputs,
            at,
            w,
            width,
            height,
        } = Drawing::new(&inner, longest);
        let mut out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"monospace\" font-size=\"12\">\n"
        );
        out.push_str("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        for (i, ins) in inputs.iter().enumerate() {
            let (x1, y1) = at[i];
            for &j in ins {
                let (x0, y0) = at[j];
                let (sx, sy, ex, ey) = (x0 + w, y0 + H / 2.0, x1, y1 + H / 2.0);
                let mid = (sx + ex) / 2.0;
                out.push_str(&format!(
                    "<path class=\"edge\" data-from=\"{j}\" data-to=\"{i}\" d=\"M {sx} {sy} C {mid} {sy}, {mid} {ey}, {ex} {ey}\" fill=\"none\" stroke=\"#888\"/>\n"
                ));
            }
        }
        for (i, text) in lines.iter().enumerate() {
            let node = &inner.nodes[i];
            let (x, y) = at[i];
            let (fill, dash) = match node.op {
                Op::Param => ("#dbeafe", ""),
                Op::Const => ("#ffffff", " stroke-dasharray=\"4 3\""),
                _ => ("#f3f4f6", ""),
            };
            out.push_str(&format!(
                "<g class=\"node\" data-id=\"{i}\"><rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{H}\" rx=\"4\" fill=\"{fill}\" stroke=\"#333\"{dash}/>\n"
            ));
            for (k, line) in text.iter().enumerate() {
                if !line.is_empty() {
                    out.push_str(&format!(
                        "<text x=\"{}\" y=\"{}\">{}</text>\n",
                        x + 6.0,
                        y + 16.0 + 17.0 * k as f64,
                        escape(line)
                    ));
                }
            }
            out.push_str("</g>\n");
        }
        out.push_str("</svg>\n");
        out
    }
}
