//! Integration tests: one binary, one module per feature, driving the real `accord` binary.

mod api;
mod bad_input;
mod browser;
mod chain;
mod corrections;
mod crash;
mod dashboard;
mod evaluate;
mod generate;
mod helpers;
mod history;
mod nodes;
mod outside_faults;
mod reminders;
mod schema;
mod smtp;
mod storage_faults;
mod store_contract;
mod tidy;
mod upgrades;
