//! The faultline command line: the only part of faultline that prints.
//!
//! Exit codes: 0 every check held, 1 an anomaly was found, 2 bad usage or input,
//! 3 inconclusive (a checker ran out of budget, or a simulation could not finish).

mod cli;

fn main() {
    let code = cli::main();
    std::process::exit(code);
}
