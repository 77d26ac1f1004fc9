//! Accord: an event-sourced workflow engine for the mandates and reporting of convention
//! secretariats.
//!
//! The architecture in brief (ARCHITECTURE.md has the whole map):
//!
//! - [`domain`] is the event catalogue (meetings, decisions and mandates, groups, reports,
//!   corrections) and approximate dates. Pure data and rules: no IO.
//! - [`input`] turns JSON Lines into validated proposed events, naming line and field on error.
//! - [`envelope`] is the recorded envelope and its SHA-256 hash chain over RFC 8785 JSON.
//! - [`store`] is the `EventStore` trait and its sled and PostgreSQL backends: atomic, durable
//!   batches, a gapless global seq, per-stream positions, idempotency by id.
//! - [`projections`] fold the log into meetings, decisions, mandates, groups, reports and a
//!   timeline, "as of" a domain date and "as known at" a recording instant, with snapshots.
//! - [`verify`] checks a chain, in the store or in an export file.
//! - [`config`] reads `config/accord.toml`; [`render`] prints tables, JSON and CSV;
//!   [`cli`] is the `accord` command line.

pub mod allocator;
pub mod api;
pub mod calendar;
pub mod cli;
pub mod config;
pub mod domain;
pub mod envelope;
pub mod evaluate;
pub mod generate;
pub mod input;
pub mod listing;
pub mod notify;
pub mod omit;
pub mod projections;
pub mod render;
pub mod scheduler;
pub mod store;
pub mod verify;
pub mod workflows;
