//! Facts Ebb ships with: TGI container images and GPU instance types.

pub mod instances;
pub mod tgi;
