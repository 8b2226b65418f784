//! Integration tests of the dashboard: its JSON endpoints and security over HTTP,
//! and its pages in a real browser (Debian's Chromium driven through
//! ChromeDriver's WebDriver API).

mod api;
mod browser;
mod support;
