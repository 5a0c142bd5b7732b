//! The console's view of the project, apart from HTTP: the diagram of an
//! API, workflow or function built from the loaded model, and the page's
//! embedded assets. `http/console.rs` serves both.

pub mod diagram;

/// The console's page, script and style sheet, built into the binary: no
/// front-end build step, nothing fetched from elsewhere at run time.
pub mod assets {
    pub const INDEX_HTML: &str = include_str!("assets/index.html");
    pub const APP_JS: &str = include_str!("assets/app.js");
    pub const APP_CSS: &str = include_str!("assets/app.css");
}
