//! The command line (grows with the program issue). For now: the drug-dosage demo,
//! checking autodiff against the hand-derived partials.

use tape::prelude::*;

/// Runs the program; returns the process exit status.
pub fn main() -> i32 {
    let xs = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
    let ys = [1.86, 1.31, 0.62, 0.33, 0.09, -0.67, -1.23, -1.37];
    let tape = Tape::new();
    let (m, b) = (tape.param(0.9), tape.param(0.1));
    let x = tape.constant(xs);
    let y = tape.constant(ys);
    let cost = (m * x + b - y).square().mean();
    let grads = cost.backward();
    let n = xs.len() as f64;
    let r: Vec<f64> = xs.iter().zip(ys).map(|(x, y)| 0.9 * x + 0.1 - y).collect();
    let dm: f64 = 2.0 / n * r.iter().zip(xs).map(|(r, x)| r * x).sum::<f64>();
    let db: f64 = 2.0 / n * r.iter().sum::<f64>();
    println!("y = m·x + b on the 8 drug-dosage points, at m = 0.9, b = 0.1");
    println!("cost C = {}", tape::fmt_g(cost.item()));
    println!("{:<8} {:>14} {:>14}", "", "hand", "autodiff");
    println!("{:<8} {:>14.6} {:>14.6}", "dC/dm", dm, grads.get(m).item());
    println!("{:<8} {:>14.6} {:>14.6}", "dC/db", db, grads.get(b).item());
    println!("\nThe tape:\n{grads}");
    0
}
