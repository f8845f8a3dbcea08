//! The advertiser on a virtual clock: every schedule below is exact, no test sleeps.

use super::*;
use routerd_api::spec::RaPrefixConfig;
use routerd_sansio::{Sequence, XorShift};

fn t0() -> Now {
    Now {
        mono: Instant::now(),
        wall: Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
    }
}

fn config(prefixes: Vec<RaPrefixConfig>) -> RaDaemonConfig {
    RaDaemonConfig {
        ifname: "lan0".into(),
        prefixes,
        managed: false,
        other_config: false,
        rdnss: vec!["2001:db8:1::1".parse().unwrap()],
        dnssl: vec!["home.arpa".into()],
        mtu: Some(1500),
        router_lifetime_seconds: 1800,
        max_interval_seconds: 600,
    }
}

fn literal(prefix: &str) -> RaPrefixConfig {
    RaPrefixConfig {
        prefix: prefix.into(),
        autonomous: true,
        preferred_lifetime_seconds: None,
        valid_lifetime_seconds: None,
        preferred_until: None,
        valid_until: None,
    }
}

fn delegated(prefix: &str, now: Now, preferred: u64, valid: u64) -> RaPrefixConfig {
    RaPrefixConfig {
        prefix: prefix.into(),
        autonomous: true,
        preferred_lifetime_seconds: None,
        valid_lifetime_seconds: None,
        preferred_until: Some(now.wall.saturating_add(Duration::from_secs(preferred))),
        valid_until: Some(now.wall.saturating_add(Duration::from_secs(valid))),
    }
}

fn settings(prefixes: Vec<RaPrefixConfig>) -> Settings {
    Settings::from_config(&config(prefixes)).unwrap()
}

fn sent(out: &[Output]) -> Vec<&RouterAdvertisement> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(ra) => Some(ra),
            _ => None,
        })
        .collect()
}

fn topics(out: &[Output]) -> Vec<(String, String)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some((
                e.topic.clone(),
                e.attributes.get("prefix").cloned().unwrap_or_default(),
            )),
            _ => None,
        })
        .collect()
}

fn pios(ra: &RouterAdvertisement) -> Vec<(String, u32, u32)> {
    ra.prefixes()
        .map(|p| {
            (
                format!("{}/{}", p.prefix, p.prefix_length),
                p.preferred_lifetime,
                p.valid_lifetime,
            )
        })
        .collect()
}

fn rs() -> RouterSolicitation {
    RouterSolicitation::default()
}

fn host() -> Ipv6Addr {
    "fe80::2".parse().unwrap()
}

/// Runs the timer at every deadline up to `until`, returning each send's time since `start`.
fn run(a: &mut Advertiser, start: Now, until: Duration) -> Vec<(Duration, RouterAdvertisement)> {
    let mut sends = Vec::new();
    let mut now = start;
    while let Some(d) = a.deadline() {
        if d > start.mono + until {
            break;
        }
        let step = d.saturating_duration_since(now.mono);
        now = now.after(step);
        for ra in sent(&a.timer(now)) {
            sends.push((now.mono - start.mono, ra.clone()));
        }
    }
    sends
}

#[test]
fn first_ra_at_once_then_initial_burst_then_random_intervals_in_range() {
    let now = t0();
    let (mut a, out) = Advertiser::new(
        "lan",
        settings(vec![literal("2001:db8:1::/64")]),
        Box::new(XorShift::new(7)),
        &[],
        now,
    );
    assert_eq!(
        topics(&out),
        [(
            events::PREFIX_ADVERTISED.to_string(),
            "2001:db8:1::/64".to_string()
        )]
    );
    assert!(sent(&out).is_empty(), "nothing leaves before start");
    a.set_link_layer(Some([2, 0, 0, 0, 0, 1]));
    let first = a.start(now);
    let ra = sent(&first)[0];
    assert_eq!(ra.router_lifetime, 1800);
    assert_eq!(ra.cur_hop_limit, 64);
    assert_eq!(
        pios(ra),
        [(
            "2001:db8:1::/64".into(),
            DEFAULT_PREFERRED_LIFETIME,
            DEFAULT_VALID_LIFETIME
        )]
    );
    assert!(ra.options.contains(&NdOption::Mtu(1500)));
    assert!(ra
        .options
        .contains(&NdOption::SourceLinkLayerAddress(vec![2, 0, 0, 0, 0, 1])));
    assert!(ra
        .options
        .iter()
        .any(|o| matches!(o, NdOption::Rdnss { lifetime: 1800, .. })));
    assert!(ra
        .options
        .iter()
        .any(|o| matches!(o, NdOption::Dnssl { domains, .. } if domains == &["home.arpa"])));

    let sends = run(&mut a, now, Duration::from_secs(6 * 3600));
    let mut times = vec![Duration::ZERO];
    times.extend(sends.iter().map(|(t, _)| *t));
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    // The 2nd and 3rd RAs (the initial ones) follow at most 16 s apart.
    for g in &gaps[..2] {
        assert!(*g <= MAX_INITIAL_RTR_ADVERT_INTERVAL, "{gaps:?}");
    }
    // Then [0.33, 1] × 600 s, and spread over that range.
    let later = &gaps[2..];
    assert!(later.len() > 30);
    for g in later {
        assert!(
            *g >= Duration::from_secs(198) && *g <= Duration::from_secs(600),
            "{g:?}"
        );
    }
    let (lo, hi) = (later.iter().min().unwrap(), later.iter().max().unwrap());
    assert!(
        *hi - *lo > Duration::from_secs(200),
        "random, not fixed: {lo:?}..{hi:?}"
    );
}

#[test]
fn solicitations_are_answered_after_a_short_delay_and_rate_limited() {
    let now = t0();
    // Random values: the first goes to the start RA's interval, then the RS delays.
    let (mut a, _) = Advertiser::new(
        "lan",
        settings(vec![literal("2001:db8:1::/64")]),
        Box::new(Sequence::new(vec![15_999, 300, 100, 100])),
        &[],
        now,
    );
    a.start(now);
    // 10 s later (past MIN_DELAY_BETWEEN_RAS): answered after the random delay (300 ms).
    let t = now.after(Duration::from_secs(10));
    a.solicitation(host(), &rs(), t).unwrap();
    assert_eq!(a.deadline(), Some(t.mono + Duration::from_millis(300)));
    assert!(sent(&a.timer(t.after(Duration::from_millis(299)))).is_empty());
    let t1 = t.after(Duration::from_millis(300));
    assert_eq!(sent(&a.timer(t1)).len(), 1);
    assert_eq!(a.solicitations_answered(), 1);

    // A burst right after: one answer for all, no sooner than 3 s after the last RA.
    for i in 0..20 {
        let ti = t1.after(Duration::from_millis(10 * i));
        a.solicitation(host(), &rs(), ti).unwrap();
    }
    let due = a.deadline().unwrap();
    assert_eq!(
        due,
        t1.mono + MIN_DELAY_BETWEEN_RAS + Duration::from_millis(100)
    );
    let mut count = 0;
    let mut now = t1;
    while now.mono < t1.mono + Duration::from_secs(5) {
        now = now.after(Duration::from_millis(50));
        count += sent(&a.timer(now)).len();
    }
    assert_eq!(count, 1, "twenty solicitations, one RA");
    assert_eq!(a.solicitations_answered(), 21);
}

#[test]
fn invalid_solicitation_is_refused() {
    let now = t0();
    let (mut a, _) = Advertiser::new(
        "lan",
        settings(vec![]),
        Box::new(XorShift::new(1)),
        &[],
        now,
    );
    a.start(now);
    let with_lla = RouterSolicitation {
        options: vec![NdOption::SourceLinkLayerAddress(vec![2, 0, 0, 0, 0, 9])],
    };
    assert_eq!(
        a.solicitation(Ipv6Addr::UNSPECIFIED, &with_lla, now),
        Err(SolicitationError::UnspecifiedSourceWithLinkLayer)
    );
    assert!(a.solicitation(Ipv6Addr::UNSPECIFIED, &rs(), now).is_ok());
    assert!(a.solicitation(host(), &with_lla, now).is_ok());
}

#[test]
fn a_new_delegated_prefix_goes_out_at_once_and_the_old_one_is_deprecated_until_it_expires() {
    let now = t0();
    let (mut a, _) = Advertiser::new(
        "lan",
        settings(vec![delegated("2001:db8:1200:1241::/64", now, 30, 60)]),
        Box::new(XorShift::new(3)),
        &[],
        now,
    );
    a.start(now);
    // Lifetimes count down to the delegation's instants.
    let t = now.after(Duration::from_secs(10));
    assert_eq!(
        pios(&a.advertisement(t, false)),
        [("2001:db8:1200:1241::/64".into(), 20, 50)]
    );

    // The delegation moves.
    let out = a.reconfigure(
        settings(vec![delegated("2001:db8:1200:1251::/64", t, 30, 60)]),
        t,
    );
    assert_eq!(
        topics(&out),
        [
            (
                events::PREFIX_DEPRECATED.to_string(),
                "2001:db8:1200:1241::/64".to_string()
            ),
            (
                events::PREFIX_ADVERTISED.to_string(),
                "2001:db8:1200:1251::/64".to_string()
            ),
        ]
    );
    let ra = sent(&out);
    assert_eq!(ra.len(), 1, "sent at once");
    assert_eq!(
        pios(ra[0]),
        [
            ("2001:db8:1200:1251::/64".into(), 30, 60),
            ("2001:db8:1200:1241::/64".into(), 0, 50),
        ]
    );
    let persisted: Vec<String> = match out.iter().find(|o| matches!(o, Output::Persist(_))) {
        Some(Output::Persist(p)) => p.iter().map(|p| p.prefix.clone()).collect(),
        _ => panic!("persisted"),
    };
    assert_eq!(
        persisted,
        ["2001:db8:1200:1251::/64", "2001:db8:1200:1241::/64"]
    );
    let status = a.advertised(t);
    assert!(status[1].deprecated && status[1].preferred_lifetime_seconds == 0);

    // Still deprecated 49 s later, gone at its valid lifetime.
    let t49 = t.after(Duration::from_secs(49));
    assert_eq!(pios(&a.advertisement(t49, false)).len(), 2);
    let t50 = t.after(Duration::from_secs(50));
    a.timer(t50);
    assert_eq!(
        pios(&a.advertisement(t50, false)),
        [("2001:db8:1200:1251::/64".into(), 0, 10)]
    );
}

#[test]
fn a_dropped_long_lived_prefix_is_deprecated_with_at_most_two_hours() {
    let now = t0();
    let (mut a, _) = Advertiser::new(
        "lan",
        settings(vec![literal("2001:db8:1::/64"), literal("2001:db8:2::/64")]),
        Box::new(XorShift::new(3)),
        &[],
        now,
    );
    a.start(now);
    let out = a.reconfigure(settings(vec![literal("2001:db8:2::/64")]), now);
    assert_eq!(
        pios(sent(&out)[0]),
        [
            (
                "2001:db8:2::/64".into(),
                DEFAULT_PREFERRED_LIFETIME,
                DEFAULT_VALID_LIFETIME
            ),
            ("2001:db8:1::/64".into(), 0, DEPRECATED_VALID_CAP),
        ]
    );
    // Back in the settings: advertised normally again.
    let out = a.reconfigure(
        settings(vec![literal("2001:db8:1::/64"), literal("2001:db8:2::/64")]),
        now.after(Duration::from_secs(5)),
    );
    assert_eq!(pios(sent(&out)[0]).len(), 2);
    assert!(pios(sent(&out)[0]).iter().all(|p| p.1 > 0));
}

#[test]
fn stop_sends_router_lifetime_zero_with_prefixes_deprecated_and_then_nothing() {
    let now = t0();
    let (mut a, _) = Advertiser::new(
        "lan",
        settings(vec![literal("2001:db8:1::/64")]),
        Box::new(XorShift::new(3)),
        &[],
        now,
    );
    a.start(now);
    let out = a.stop(now.after(Duration::from_secs(1)));
    let ra = sent(&out)[0];
    assert_eq!(ra.router_lifetime, 0);
    assert_eq!(
        pios(ra),
        [("2001:db8:1::/64".into(), 0, DEPRECATED_VALID_CAP)]
    );
    assert!(a.stop(now).is_empty());
    assert!(run(&mut a, now, Duration::from_secs(3600)).is_empty());
    assert!(a.solicitation(host(), &rs(), now).is_err());
}

#[test]
fn a_restart_still_deprecates_a_prefix_that_vanished_meanwhile() {
    let now = t0();
    let remembered = vec![
        PersistedPrefix {
            prefix: "2001:db8:1200:1241::/64".into(),
            autonomous: true,
            valid_until: Some(now.wall.saturating_add(Duration::from_secs(40))),
        },
        PersistedPrefix {
            prefix: "2001:db8:1200:1251::/64".into(),
            autonomous: true,
            valid_until: None,
        },
        // Expired while the daemon was down: forgotten.
        PersistedPrefix {
            prefix: "2001:db8:9::/64".into(),
            autonomous: true,
            valid_until: Some(now.wall.saturating_sub(Duration::from_secs(1))),
        },
    ];
    let (mut a, out) = Advertiser::new(
        "lan",
        settings(vec![delegated("2001:db8:1200:1251::/64", now, 30, 60)]),
        Box::new(XorShift::new(3)),
        &remembered,
        now,
    );
    assert_eq!(
        topics(&out),
        [(
            events::PREFIX_DEPRECATED.to_string(),
            "2001:db8:1200:1241::/64".to_string()
        )],
        "the one still configured is not news"
    );
    let first = a.start(now);
    assert_eq!(
        pios(sent(&first)[0]),
        [
            ("2001:db8:1200:1251::/64".into(), 30, 60),
            ("2001:db8:1200:1241::/64".into(), 0, 40),
        ]
    );
}

#[test]
fn settings_refuse_bad_configs_naming_the_field() {
    let mut c = config(vec![literal("2001:db8:1::1/64")]);
    assert!(Settings::from_config(&c)
        .unwrap_err()
        .0
        .starts_with("prefixes[0].prefix"));
    c.prefixes = vec![literal("2001:db8:1::/64"), literal("2001:db8:1::/64")];
    assert!(Settings::from_config(&c).unwrap_err().0.contains("twice"));
    c.prefixes.clear();
    c.max_interval_seconds = 2;
    assert!(Settings::from_config(&c)
        .unwrap_err()
        .0
        .starts_with("maxIntervalSeconds"));
    c.max_interval_seconds = 600;
    c.dnssl = vec!["bad..name".into()];
    assert!(Settings::from_config(&c)
        .unwrap_err()
        .0
        .starts_with("dnssl"));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Step {
        Wait(u32),
        Solicit,
        Reconfigure(u8),
        Pause,
        Start,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0u32..700_000).prop_map(Step::Wait),
            Just(Step::Solicit),
            (0u8..4).prop_map(Step::Reconfigure),
            Just(Step::Pause),
            Just(Step::Start),
        ]
    }

    proptest! {
        /// Whatever happens, no RA says a prefix is preferred longer than it is valid, a deprecated
        /// prefix is never advertised valid for more than two hours, and unsolicited RAs (no
        /// solicitation or change between them) are never more than maxInterval apart.
        #[test]
        fn invariants_hold(seed in any::<u64>(), steps in proptest::collection::vec(step(), 1..60)) {
            let now0 = t0();
            let (mut a, _) = Advertiser::new("lan", settings(vec![delegated("2001:db8:1::/64", now0, 300, 600)]), Box::new(XorShift::new(seed)), &[], now0);
            let mut now = now0;
            let mut outs = a.start(now);
            for s in steps {
                match s {
                    Step::Wait(ms) => {
                        let end = now.after(Duration::from_millis(u64::from(ms)));
                        while let Some(d) = a.deadline() {
                            if d > end.mono { break; }
                            now = now.after(d.saturating_duration_since(now.mono));
                            let out = a.timer(now);
                            outs.extend(out);
                        }
                        now = end;
                    }
                    Step::Solicit => { let _ = a.solicitation(host(), &rs(), now); }
                    Step::Reconfigure(n) => {
                        let p = format!("2001:db8:{}::/64", n + 1);
                        outs.extend(a.reconfigure(settings(vec![delegated(&p, now, 300, 600)]), now));
                    }
                    Step::Pause => a.pause(),
                    Step::Start => outs.extend(a.start(now)),
                }
                if a.started() {
                    let d = a.deadline();
                    prop_assert!(d.is_some_and(|d| d <= now.mono + Duration::from_secs(600)), "an RA is always scheduled");
                }
            }
            for ra in sent(&outs) {
                for p in ra.prefixes() {
                    prop_assert!(p.preferred_lifetime <= p.valid_lifetime);
                    if p.preferred_lifetime == 0 {
                        prop_assert!(p.valid_lifetime <= DEPRECATED_VALID_CAP);
                    }
                }
            }
        }
    }
}

/// A deprecated prefix expires on the monotonic clock: a wall clock stepped back an hour neither keeps
/// it advertised nor leaves a timer that is due forever.
#[test]
fn a_deprecated_prefix_expires_on_the_monotonic_clock() {
    let now = t0();
    let (mut a, _) = Advertiser::new(
        "lan",
        settings(vec![delegated("2001:db8:1::/64", now, 30, 60)]),
        Box::new(XorShift::new(5)),
        &[],
        now,
    );
    a.start(now);
    a.reconfigure(settings(vec![]), now);
    assert_eq!(a.advertised(now).len(), 1);
    let stepped = Now {
        mono: now.mono + Duration::from_secs(61),
        wall: now.wall.saturating_sub(Duration::from_secs(3600)),
    };
    a.timer(stepped);
    assert!(a.advertised(stepped).is_empty());
    assert!(
        a.deadline().is_some_and(|d| d > stepped.mono),
        "only the next unsolicited RA is due"
    );
}
