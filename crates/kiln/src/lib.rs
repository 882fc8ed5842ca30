pub mod error;
pub mod yaml;
