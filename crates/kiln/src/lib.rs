pub mod error;
pub mod yaml;
pub mod load;
pub mod model;
pub mod resolve;
