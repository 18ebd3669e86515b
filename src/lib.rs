//! Castellan: an authentication server. See README.md for the user's manual.

pub mod app;
pub mod cli;
pub mod config;
pub mod core;
pub mod domain;
pub mod http;
pub mod import;
pub mod metrics;
pub mod shared;
pub mod shutdown;
pub mod store;
