//! Writes a seeded register history in the plain format of `docs/checkers.md`, for the
//! linearizability benchmarks (`faultline check --checker linearizable --model register`):
//!
//! ```text
//! cargo run --release -p faultline-checker --example generate_register_history -- \
//!     --ops 100000 --processes 10 --seed 1 [--violations 1] [--crash-fraction 0.02] > h.jsonl
//! ```
//!
//! Options map one to one onto `checker::linearizable::generate::GenerateOptions`.

use std::io::{BufWriter, Write};

use faultline_checker::linearizable::generate::{generate, write_jsonl, GenerateOptions};

fn parse(args: &[String]) -> Result<GenerateOptions, String> {
    let mut options = GenerateOptions::default();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--ops" => options.ops = value.parse().map_err(|e| bad(&e))?,
            "--processes" => options.processes = value.parse().map_err(|e| bad(&e))?,
            "--seed" => options.seed = value.parse().map_err(|e| bad(&e))?,
            "--violations" => options.violations = value.parse().map_err(|e| bad(&e))?,
            "--read-fraction" => options.read_fraction = value.parse().map_err(|e| bad(&e))?,
            "--crash-fraction" => options.crash_fraction = value.parse().map_err(|e| bad(&e))?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(options)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse(&args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("generate_register_history: {message}");
            std::process::exit(2);
        }
    };
    eprintln!("generate_register_history: {options:?}");
    let ops = generate(&options);
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    write_jsonl(&ops, &mut out)
        .and_then(|()| out.flush())
        .expect("writing the history to stdout");
}
