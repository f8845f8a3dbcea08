//! The driver task: holds the listeners (binding the ones `spec.listen` names and retrying those that
//! failed, e.g. an address not on its interface yet), applies reloads without dropping the cache,
//! publishes the status every second, turns dropped log rows into an event, and has the query log pruned
//! by the retention routerd passes in.

use super::listeners::{self, Listener};
use super::querylog::{self, LogSink};
use super::resolver::{Resolver, TOPIC_QUERYLOG_DROPPED};
use super::service::{Command, Dns, RESOURCE_KIND};
use routerd_api::event::{NewEvent, Severity};
use routerd_api::spec::DNSResolverDaemonConfig;
use routerd_api::{Condition, Phase, Timestamp};
use routerd_daemon::driven::{DriverParts, Handled, Handler, Request};
use routerd_dns_resolver::config::Settings;
use routerd_sansio::StatusTracker;
use routerd_store::{DnsQueryLog, RetentionPolicy, DNS_QUERY_LOG_FILE};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// How often the status is published and failed listeners are bound again.
const TICK: Duration = Duration::from_secs(1);
/// How often retention runs (and once at start).
const RETENTION_EVERY: Duration = Duration::from_secs(600);
/// Dropped log rows are reported at most this often.
const DROPPED_EVENT_EVERY: Duration = Duration::from_secs(10);

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UpstreamObserved {
    address: String,
    protocol: String,
    healthy: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    failures: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CacheObserved {
    entries: usize,
    max_entries: usize,
    hits: u64,
    misses: u64,
    hit_ratio: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct QueryLogObserved {
    enabled: bool,
    written: u64,
    dropped: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Observed {
    listeners: Vec<String>,
    upstreams: Vec<UpstreamObserved>,
    cache: CacheObserved,
    query_log: QueryLogObserved,
    local_names: usize,
    queries: u64,
    local_answers: u64,
    forwarded: u64,
    servfail: u64,
    malformed: u64,
}

struct Driver {
    resolver: Arc<Resolver>,
    listeners: BTreeMap<SocketAddr, Listener>,
    bind_errors: BTreeMap<SocketAddr, String>,
    tracker: StatusTracker,
    log_error: Option<String>,
    reported_dropped: u64,
    last_dropped_event: Option<tokio::time::Instant>,
}

fn retention(settings: &Settings) -> RetentionPolicy {
    RetentionPolicy {
        max_age: settings.max_age,
        max_rows: settings.max_rows,
    }
}

pub async fn run(parts: DriverParts<Dns>) {
    let DriverParts {
        name,
        config,
        state_dir,
        events,
        shared,
        mut requests,
    } = parts;
    let settings = match Settings::from_config(&config) {
        Ok(s) => s,
        Err(e) => {
            // The kit validated the config; this cannot happen, but never panic.
            tracing::error!(error = %e, "config refused");
            return;
        }
    };
    let (sink, log_thread, log_error) = match DnsQueryLog::open(&state_dir.join(DNS_QUERY_LOG_FILE))
        .map_err(|e| e.to_string())
        .and_then(|store| querylog::start(store, settings.query_log).map_err(|e| e.to_string()))
    {
        Ok((sink, thread)) => (sink, Some(thread), None),
        Err(e) => {
            tracing::error!(error = %e, "query log not available");
            (LogSink::disabled(), None, Some(e))
        }
    };
    if let Some(store) = sink.store() {
        let _ = store.retain(retention(&settings));
    }
    let resolver = Arc::new(Resolver::new(&name, settings, sink, events));
    let mut driver = Driver {
        resolver,
        listeners: BTreeMap::new(),
        bind_errors: BTreeMap::new(),
        tracker: StatusTracker::new(RESOURCE_KIND, &name, Timestamp::now()),
        log_error,
        reported_dropped: 0,
        last_dropped_event: None,
    };
    driver.bind_listeners().await;
    shared.set_status(driver.status());
    let mut tick = tokio::time::interval(TICK);
    let mut retention_tick = tokio::time::interval(RETENTION_EVERY);
    retention_tick.tick().await;
    loop {
        tokio::select! {
            request = requests.recv() => {
                let Some(request) = request else { break };
                let reload = matches!(request, Request::Reload(..));
                if request.handle(&mut driver) == Handled::ShutDown {
                    break;
                }
                if reload {
                    driver.bind_listeners().await;
                }
                shared.set_status(driver.status());
            }
            _ = tick.tick() => {
                if driver.bind_errors.len() + driver.listeners.len() < driver.resolver.settings().listen.len()
                    || !driver.bind_errors.is_empty()
                {
                    driver.bind_listeners().await;
                }
                driver.report_dropped();
                shared.set_status(driver.status());
                shared.beat();
            }
            _ = retention_tick.tick() => {
                if let Some(store) = driver.resolver.log.store() {
                    let _ = store.retain(retention(&driver.resolver.settings()));
                }
            }
        }
    }
    driver.listeners.clear();
    close_log(driver.resolver, log_thread).await;
}

/// Waits for the listener tasks to let go of the resolver, then closes the log channel so the formatter
/// hands everything queued to the store and the store commits it.
async fn close_log(mut resolver: Arc<Resolver>, thread: Option<std::thread::JoinHandle<()>>) {
    for _ in 0..100 {
        match Arc::try_unwrap(resolver) {
            Ok(mut owned) => {
                owned.log.close();
                let store = owned.log.store().cloned();
                drop(owned);
                if let Some(thread) = thread {
                    let _ = tokio::task::spawn_blocking(move || {
                        let _ = thread.join();
                        if let Some(store) = store {
                            store.close();
                        }
                    })
                    .await;
                }
                return;
            }
            Err(shared) => {
                resolver = shared;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    // A forward still running holds the resolver: commit what reached the store at least.
    if let Some(store) = resolver.log.store().cloned() {
        let _ = tokio::task::spawn_blocking(move || store.flush()).await;
    }
}

impl Driver {
    async fn bind_listeners(&mut self) {
        let wanted = self.resolver.settings().listen.clone();
        self.listeners.retain(|a, _| wanted.contains(a));
        self.bind_errors.retain(|a, _| wanted.contains(a));
        for address in wanted {
            if self.listeners.contains_key(&address) {
                continue;
            }
            match listeners::bind(address, self.resolver.clone()).await {
                Ok(l) => {
                    tracing::info!(%address, "listening");
                    self.bind_errors.remove(&address);
                    self.listeners.insert(address, l);
                }
                Err(e) => {
                    if self.bind_errors.insert(address, e.to_string()).is_none() {
                        tracing::warn!(%address, error = %e, "cannot listen");
                    }
                }
            }
        }
    }

    fn report_dropped(&mut self) {
        let (_, dropped) = self.resolver.log.counts();
        if dropped <= self.reported_dropped {
            return;
        }
        let now = tokio::time::Instant::now();
        if self
            .last_dropped_event
            .is_some_and(|t| now.duration_since(t) < DROPPED_EVENT_EVERY)
        {
            return;
        }
        let count = dropped - self.reported_dropped;
        self.reported_dropped = dropped;
        self.last_dropped_event = Some(now);
        self.resolver.emit(
            NewEvent::new(
                TOPIC_QUERYLOG_DROPPED,
                Severity::Warning,
                format!("query log fell behind: {count} rows dropped (answers were not delayed)"),
            )
            .attr("count", count.to_string()),
        );
    }

    fn status(&mut self) -> routerd_api::daemon::DaemonResourceStatus {
        let r = &self.resolver;
        let settings = r.settings();
        let cache = r.cache_stats();
        let lookups = cache.hits + cache.misses;
        let (written, dropped) = r.log.counts();
        let states = r.upstream_states();
        let observed = Observed {
            listeners: self.listeners.keys().map(|a| a.to_string()).collect(),
            upstreams: settings
                .upstreams
                .iter()
                .zip(states.iter())
                .map(|(u, s)| UpstreamObserved {
                    address: u.address.to_string(),
                    protocol: u.label.split("://").next().unwrap_or("udp").to_string(),
                    healthy: s.healthy,
                    last_error: s.last_error.clone(),
                    failures: s.failures,
                })
                .collect(),
            cache: CacheObserved {
                entries: cache.entries,
                max_entries: settings.max_entries,
                hits: cache.hits,
                misses: cache.misses,
                hit_ratio: if lookups == 0 {
                    0.0
                } else {
                    cache.hits as f64 / lookups as f64
                },
            },
            query_log: QueryLogObserved {
                enabled: r.log.enabled(),
                written,
                dropped,
            },
            local_names: settings.zone.len(),
            queries: r.counters.queries.load(Ordering::Relaxed),
            local_answers: r.counters.local.load(Ordering::Relaxed),
            forwarded: r.counters.forwarded.load(Ordering::Relaxed),
            servfail: r.counters.servfail.load(Ordering::Relaxed),
            malformed: r.counters.malformed.load(Ordering::Relaxed),
        };
        let listening = self.bind_errors.is_empty() && !self.listeners.is_empty();
        let mut conditions = vec![if listening {
            Condition::new(
                "Listening",
                true,
                "Bound",
                format!("answering on {}", observed.listeners.join(", ")),
            )
        } else {
            Condition::new(
                "Listening",
                false,
                "BindFailed",
                self.bind_errors
                    .iter()
                    .map(|(a, e)| format!("{a}: {e}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        }];
        if let Some(e) = &self.log_error {
            conditions.push(Condition::new("QueryLog", false, "StoreFailed", e.clone()));
        }
        let phase = if listening {
            Phase::Applied
        } else {
            Phase::Error
        };
        self.tracker
            .update(phase, conditions, &observed, Timestamp::now())
    }
}

impl Handler<Command, DNSResolverDaemonConfig> for Driver {
    fn command(&mut self, command: Command) -> Result<String, String> {
        match command {
            Command::Renew => {
                self.resolver.retry_upstreams();
                Ok("skipped upstreams are tried again from the next query".into())
            }
        }
    }

    fn reload(&mut self, config: DNSResolverDaemonConfig) -> Result<String, String> {
        let settings = Settings::from_config(&config)?;
        let policy = retention(&settings);
        self.resolver.replace_settings(settings);
        if let Some(store) = self.resolver.log.store() {
            let _ = store.retain(policy);
        }
        Ok("config reloaded; the cache is kept".into())
    }

    fn shutdown(&mut self) {}
}
