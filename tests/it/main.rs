//! Integration tests: one binary, one module per feature, driving the real `accord` binary.

mod api;
mod bad_input;
mod browser;
mod chain;
mod corrections;
mod crash;
mod dashboard;
mod evaluate;
mod fuzz;
mod generate;
mod helpers;
mod history;
mod lifecycle;
mod load;
mod nodes;
mod outside_faults;
mod real_history;
mod reminders;
mod schema;
mod security;
mod smtp;
mod storage_faults;
mod store_contract;
mod tidy;
mod tls;
mod upgrades;
