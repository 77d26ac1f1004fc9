//! Workflows: declarative definitions (`workflows/*.toml`) and the deadlines they derive.

pub mod definition;
pub mod derive;

pub use definition::{Definitions, Workflow, WorkflowError};
