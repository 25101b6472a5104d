//! Ebb's engine: everything the desktop app and the CLI do, as async functions with typed inputs,
//! outputs and errors. No Tauri in here; the shells only translate.

pub mod aws_errors;
pub mod bucket_owner;
pub mod catalog;
pub mod cloud;
pub mod deploy;
pub mod doctor;
pub mod error;
pub mod home;
pub mod jobs;
pub mod loadtest;
pub mod logfile;
pub mod metrics;
pub mod overview;
pub mod pricing;
pub mod profiles;
pub mod regions;
pub mod scaling;
pub mod settings;
pub mod validate;

mod engine;

pub use cloud::{Overrides, ProvidedCloud, Source, Target};
pub use doctor::{Check, CheckId, CheckStatus, DoctorReport, Identity};
pub use engine::{Ebb, SettingsView};
pub use error::Error;
pub use settings::{Mode, SettingKey, Settings};
pub use validate::FieldError;
