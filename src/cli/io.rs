//! What every command shares on the way in and out: opening an input (a file or standard
//! input), naming it in messages, writing results (a closed pipe ends the run quietly; a
//! file is written whole or not at all, never onto an input), and the failure a command
//! returns with its documented exit status.

/// User text for a message: at most 60 characters, marked where cut.
pub(crate) fn short(text: &str) -> String {
    match text.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// The input as a reader: a file, or standard input for `-`.
pub(crate) fn open(file: &str) -> Result<Box<dyn std::io::Read>, String> {
    if file == "-" {
        return Ok(Box::new(std::io::stdin().lock()));
    }
    std::fs::File::open(file)
        .map(|f| Box::new(f) as Box<dyn std::io::Read>)
        .map_err(|e| format!("cannot read {file}: {e}"))
}

/// How messages name an input.
pub(crate) fn display(file: &str) -> &str {
    if file == "-" {
        "<stdin>"
    } else {
        file
    }
}

/// Writes one line of results to standard output (see `out!`).
pub(crate) fn emit(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    if let Err(e) = o.write_fmt(args).and_then(|()| o.write_all(b"\n")) {
        write_failed(&e);
    }
}

/// Ends the process after a failed write to standard output.
pub(crate) fn write_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("descent: cannot write the output: {e}");
    std::process::exit(1);
}

/// Writes `bytes` to `path` so that a reader sees the old file or the new one, whole:
/// into a temporary file in the same folder, flushed to disk, then renamed into place. A
/// path that is one of `inputs` (the same file by any name) is refused, so a user's data
/// is never overwritten by a result.
pub(crate) fn write_atomic(path: &str, bytes: &[u8], inputs: &[&str]) -> Result<(), String> {
    use std::io::Write;
    let target = std::path::Path::new(path);
    for input in inputs {
        let same = match (std::fs::canonicalize(target), std::fs::canonicalize(input)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if same {
            return Err(format!(
                "{path} is also an input ({input}): refusing to overwrite it; write to another file"
            ));
        }
    }
    let Some(name) = target.file_name() else {
        return Err(format!("{path}: not a file name"));
    };
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, target));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(|e| format!("{path}: {e}"))
}

/// Why a command failed, with the exit status `--help` documents for it.
#[derive(Debug)]
pub(crate) struct Fail {
    pub status: i32,
    pub message: String,
}

impl Fail {
    /// Bad input or options: status 2.
    pub fn input(message: impl Into<String>) -> Fail {
        Fail {
            status: 2,
            message: message.into(),
        }
    }
    /// The fit did not converge: status 3.
    pub fn not_converged(message: impl Into<String>) -> Fail {
        Fail {
            status: 3,
            message: message.into(),
        }
    }
    /// A NaN or infinity: status 4.
    pub fn numerical(message: impl Into<String>) -> Fail {
        Fail {
            status: 4,
            message: message.into(),
        }
    }
}

impl From<String> for Fail {
    fn from(message: String) -> Fail {
        Fail::input(message)
    }
}

impl From<&str> for Fail {
    fn from(message: &str) -> Fail {
        Fail::input(message)
    }
}

/// The file's bytes, or an error naming it.
pub(crate) fn read(file: &str) -> Result<Vec<u8>, String> {
    std::fs::read(file).map_err(|e| format!("cannot read {file}: {e}"))
}

/// A number for JSON: `null` for NaN and infinities, which JSON cannot hold.
pub(crate) fn num(x: f64) -> serde_json::Value {
    serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, serde_json::Value::Number)
}
