//! Seeing what the tape did: the Wengert list and Graphviz DOT.

use crate::backward::Gradients;
use crate::op::Op;
use crate::tape::{Inner, Tape};
use std::fmt;

/// How a node's op and arguments read in the listing: `mul(#0, #1)`, `powf(#3, 2)`.
pub(crate) fn describe(inner: &Inner, op: &Op) -> String {
    let spec = inner.spec(*op);
    let args: Vec<String> = spec.inputs.iter().map(|i| format!("#{i}")).collect();
    let extra = match *op {
        Op::Powf(_, p) => format!(", {p}"),
        Op::Powi(_, n) => format!(", {n}"),
        Op::MatMul { ta, tb, .. } => {
            let t = |f: bool| if f { "ᵀ" } else { "" };
            return format!(
                "matmul(#{}{}, #{}{})",
                spec.inputs[0],
                t(ta),
                spec.inputs[1],
                t(tb)
            );
        }
        Op::SumAxis { axis, keepdim, .. } | Op::MeanAxis { axis, keepdim, .. } => {
            format!(", axis={axis}{}", if keepdim { ", keepdim" } else { "" })
        }
        Op::Transpose(_, d0, d1) => format!(", {d0}, {d1}"),
        _ => String::new(),
    };
    if args.is_empty() {
        spec.name.to_string()
    } else {
        format!("{}({}{extra})", spec.name, args.join(", "))
    }
}

/// One line per node: id, op and inputs, shape, value, and the adjoint when given.
pub(crate) fn listing(tape: &Tape, grads: Option<&Gradients<'_>>) -> String {
    let inner = tape.inner.borrow();
    let rows: Vec<[String; 5]> = (0..inner.nodes.len())
        .map(|i| {
            let value = inner.value(i as u32);
            let adjoint = match grads.and_then(|g| g.adjoint(i)) {
                Some(g) if !matches!(inner.nodes[i].op, Op::Const) => format!("grad {g}"),
                _ => String::new(),
            };
            [
                format!("#{i}"),
                describe(&inner, &inner.nodes[i].op),
                format!("{:?}", value.shape()),
                if inner.is_released(i as u32) {
                    format!("{value} (released after use; computed again to show)")
                } else {
                    value.to_string()
                },
                adjoint,
            ]
        })
        .collect();
    drop(inner);
    let width = |c: usize| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0);
    let (w0, w1, w2, w3) = (width(0), width(1), width(2), width(3));
    let mut out = String::new();
    for r in &rows {
        let line = format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {}",
            r[0], r[1], r[2], r[3], r[4]
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

impl Tape {
    /// The recorded graph as Graphviz DOT, one box per node with its op, shape, value and
    /// (given the gradients of a backward pass) its adjoint, as micrograd's `draw_dot`.
    /// Render it with `dot -Tsvg`.
    ///
    /// ```
    /// let tape = tape::Tape::new();
    /// let x = tape.param(2.0);
    /// let y = x * x;
    /// let dot = tape.to_dot(Some(&y.backward()));
    /// assert!(dot.contains("n0 -> n1"));
    /// ```
    pub fn to_dot(&self, grads: Option<&Gradients<'_>>) -> String {
        let inner = self.inner.borrow();
        let mut out = String::from(
            "digraph tape {\n  rankdir=LR;\n  node [shape=box, fontname=monospace];\n",
        );
        for (i, node) in inner.nodes.iter().enumerate() {
            let value = inner.value(i as u32);
            let mut label = format!(
                "#{i} {}\\nshape {:?}\\nvalue {value}",
                inner.spec(node.op).name,
                value.shape()
            );
            if let Some(g) = grads.and_then(|g| g.adjoint(i)) {
                if !matches!(node.op, Op::Const) {
                    label.push_str(&format!("\\ngrad {g}"));
                }
            }
            let style = match node.op {
                Op::Param => ", style=filled, fillcolor=lightblue",
                Op::Const => ", style=dashed",
                _ => "",
            };
            out.push_str(&format!(
                "  n{i} [label=\"{}\"{style}];\n",
                label.replace('"', "\\\"")
            ));
            for j in inner.spec(node.op).inputs.iter() {
                out.push_str(&format!("  n{j} -> n{i};\n"));
            }
        }
        out.push_str("}\n");
        out
    }
}

impl fmt::Display for Tape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&listing(self, None))
    }
}

impl fmt::Display for Gradients<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&listing(self.tape, Some(self)))
    }
}
