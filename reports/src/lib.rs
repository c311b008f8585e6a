//! faultline-reports: run reports.
