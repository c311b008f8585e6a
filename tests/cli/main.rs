//! The command line end to end, one binary (link time): `run`, `replay`, `explore`,
//! `merge`, `shrink`, `hunt` and `report` (`cli`), `check` on histories from anywhere
//! (`check_cli`), the scenario catalog (`catalog`), and the architecture's promises about
//! the tree itself (`architecture`).

mod architecture;
mod catalog;
mod check_cli;
mod cli;
