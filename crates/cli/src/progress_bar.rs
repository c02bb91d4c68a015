//! Terminal progress bars for long runs (hidden when stderr is not a terminal).

use indicatif::{ProgressBar, ProgressStyle};
use tessera_offline::Progress;

/// A progress bar over input rows.
pub(crate) struct RowsBar(ProgressBar);

impl RowsBar {
    /// A bar for `total` rows (a spinner when unknown).
    pub(crate) fn new(total: Option<u64>) -> Self {
        let bar = match total {
            Some(t) => {
                let b = ProgressBar::new(t);
                b.set_style(
                    ProgressStyle::with_template("{spinner} {msg:20} [{bar:30}] {human_pos}/{human_len} rows ({per_sec}, eta {eta})")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
                b
            }
            None => ProgressBar::new_spinner(),
        };
        Self(bar)
    }

    /// Removes the bar.
    pub(crate) fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Progress for RowsBar {
    fn message(&self, msg: &str) {
        self.0.set_message(msg.to_string());
    }
    fn advance(&self, rows: u64) {
        self.0.inc(rows);
    }
}
