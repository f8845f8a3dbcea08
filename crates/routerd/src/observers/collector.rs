//! What the flow recorder and the firewall logger share: one thread reading one netfilter subscription,
//! batching what it decodes into a log store (a burst costs one commit, a quiet trickle waits at most
//! [`SUBMIT_DELAY`]), and reporting losses at most once per [`LOSS_REPORT_INTERVAL`] so an overrun storm
//! cannot become an event storm. The collectors differ only in how they decode a datagram and what they
//! do after an overrun.

use routerd_api::Timestamp;
use routerd_host::netlink_subscription::{Received, Subscription};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long decoded rows wait for more before they go to the store.
pub const SUBMIT_DELAY: Duration = Duration::from_millis(50);
/// Losses are reported (log line and event) at most this often; the counters are always exact.
pub const LOSS_REPORT_INTERVAL: Duration = Duration::from_secs(1);
/// Receive buffer per read: a netlink datagram carries at most this much.
const DATAGRAM_BUFFER: usize = 256 * 1024;

/// What one datagram held besides rows.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// Messages the kernel dropped before we read them (sequence gaps).
    pub lost: u64,
    /// The kernel said the socket overran.
    pub overrun: bool,
}

/// Losses not yet reported.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Losses {
    pub lost: u64,
    pub overruns: u64,
}

impl Losses {
    fn any(&self) -> bool {
        self.lost > 0 || self.overruns > 0
    }
}

/// Counters both collectors show in their resource's status.
#[derive(Debug, Default)]
pub struct CollectorCounters {
    pub overruns: AtomicU64,
    pub last_overrun_at: Mutex<Option<Timestamp>>,
    pub last_error: Mutex<Option<String>>,
}

impl CollectorCounters {
    fn overrun(&self) {
        self.overruns.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut at) = self.last_overrun_at.lock() {
            *at = Some(Timestamp::now());
        }
    }

    /// Remembers `message` for the status and logs it.
    pub fn error(&self, message: String) {
        tracing::warn!("{message}");
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(message);
        }
    }
}

/// One kind of collector: how a datagram becomes rows, where rows go, and what an overrun costs.
pub trait Collector: Send + 'static {
    type Row: Send + 'static;
    /// Rows handed to the store at once at most.
    const SUBMIT_BATCH: usize;
    /// Names the socket in error messages (`conntrack event socket`).
    const SOCKET: &'static str;

    fn counters(&self) -> &CollectorCounters;
    /// Decodes one datagram, appending its rows to `rows`.
    fn decode(&mut self, datagram: &[u8], rows: &mut Vec<Self::Row>) -> Decoded;
    /// Hands rows to the store (never blocks; a full store queue is the store's to count).
    fn submit(&self, rows: Vec<Self::Row>);
    /// First thing on the thread, before the first read (the flow recorder reads the open flows here).
    fn on_start(&mut self) {}
    /// After an overrun, once the rows decoded before it are submitted (the flow recorder re-reads
    /// open flows from a dump here).
    fn after_overrun(&mut self) {}
    /// Reports losses (log line and event).
    fn report(&self, losses: Losses);
    /// Whether [`Collector::on_due`] should run now (checked after every read or receive timeout).
    fn due(&self) -> bool {
        false
    }
    /// Periodic work, run once the rows decoded so far are submitted.
    fn on_due(&mut self) {}
}

/// The running thread of a collector; dropping it stops the thread.
pub struct CollectorThread {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl CollectorThread {
    /// Starts `collector` reading `subscription` on a thread named `name`.
    pub fn start<C: Collector>(
        name: &str,
        subscription: Box<dyn Subscription>,
        collector: C,
    ) -> std::io::Result<CollectorThread> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || run(subscription, collector, &thread_stop))?;
        Ok(CollectorThread {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread (within one receive timeout) after it handed what it decoded to the store.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for CollectorThread {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run<C: Collector>(mut subscription: Box<dyn Subscription>, mut collector: C, stop: &AtomicBool) {
    collector.on_start();
    let mut buffer = vec![0u8; DATAGRAM_BUFFER];
    let mut rows: Vec<C::Row> = Vec::new();
    let mut first_pending = Instant::now();
    let mut last_report: Option<Instant> = None;
    let mut unreported = Losses::default();
    while !stop.load(Ordering::Relaxed) {
        let was_empty = rows.is_empty();
        let decoded = match subscription.receive(&mut buffer) {
            Ok(Received::Data(length)) => {
                collector.decode(buffer.get(..length).unwrap_or_default(), &mut rows)
            }
            Ok(Received::Overrun) => Decoded {
                lost: 0,
                overrun: true,
            },
            Ok(Received::Idle) => Decoded::default(),
            Err(e) => {
                collector.counters().error(format!("{}: {e}", C::SOCKET));
                std::thread::sleep(Duration::from_millis(500));
                Decoded::default()
            }
        };
        if was_empty && !rows.is_empty() {
            first_pending = Instant::now();
        }
        unreported.lost += decoded.lost;
        if decoded.overrun {
            collector.counters().overrun();
            unreported.overruns += 1;
            submit(&collector, &mut rows);
            collector.after_overrun();
        }
        if unreported.any() && last_report.is_none_or(|t| t.elapsed() >= LOSS_REPORT_INTERVAL) {
            collector.report(std::mem::take(&mut unreported));
            last_report = Some(Instant::now());
        }
        if collector.due() {
            submit(&collector, &mut rows);
            collector.on_due();
        }
        if rows.len() >= C::SUBMIT_BATCH
            || (!rows.is_empty() && first_pending.elapsed() >= SUBMIT_DELAY)
        {
            submit(&collector, &mut rows);
        }
    }
    submit(&collector, &mut rows);
    if unreported.any() {
        collector.report(unreported);
    }
}

fn submit<C: Collector>(collector: &C, rows: &mut Vec<C::Row>) {
    if !rows.is_empty() {
        collector.submit(std::mem::take(rows));
    }
}
