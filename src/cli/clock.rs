//! `paywire clock`: Stripe's test clocks from the command line, created,
//! advanced (waiting until everything due on the clock has happened) and
//! listed, on the Stripe that `paywire trigger` speaks to: the running
//! server's sandbox, or Stripe's test mode with a test key.
//!
//! Times are read as a Unix timestamp, an RFC 3339 date-time or a date
//! (midnight UTC); durations as `31d`, `2h`, `1d12h` or `1month`, whose
//! months are calendar months in UTC, as Stripe bills them (January 31 and
//! a month is February 28).

use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, Months, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use clap::{ArgGroup, Args, Subcommand};
use serde_json::{Map, Value, json};

use super::{StripeArgs, StripeTarget};
use paywire_stripe::client::{Call, CallError, Method};
use paywire_stripe::recipes::{PollError, Until, poll_until};

#[derive(Args, Debug)]
pub struct ClockArgs {
    #[command(subcommand)]
    pub action: ClockAction,
}

#[derive(Subcommand, Debug)]
pub enum ClockAction {
    /// Create a test clock; prints its id on the first line, alone, then
    /// what it is. Customers made with `test_clock=ID` live on its time.
    Create(CreateArgs),
    /// Move a test clock forward and wait until everything due on it (its
    /// subscriptions' renewals, trials, retries) has happened.
    Advance(AdvanceArgs),
    /// List the test clocks: id, name, frozen time and status.
    List(ListArgs),
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The clock's time: a Unix timestamp, an RFC 3339 date-time
    /// (2026-01-01T12:00:00Z) or a date (2026-01-01, midnight UTC)
    /// [default: now].
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub frozen_time: Option<i64>,
    /// A name to know the clock by.
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub stripe: StripeArgs,
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("when").required(true).args(["to", "by"])))]
pub struct AdvanceArgs {
    /// The clock's id (clock_…).
    #[arg(value_name = "CLOCK_ID")]
    pub clock: String,
    /// The time to move it to: a Unix timestamp, an RFC 3339 date-time or a
    /// date (midnight UTC).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub to: Option<i64>,
    /// How far to move it from its frozen time: 31d, 2h, 1d12h, 90min, 2w,
    /// 1month, 2months (calendar months, in UTC).
    #[arg(long, value_name = "DURATION", value_parser = parse_span)]
    pub by: Option<Span>,
    /// How long to wait, in seconds, for the clock to be ready.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub timeout: u64,
    /// Return once Stripe has taken the advance, without waiting until the
    /// clock is ready.
    #[arg(long)]
    pub no_wait: bool,
    #[command(flatten)]
    pub stripe: StripeArgs,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub stripe: StripeArgs,
}

/// At most this many pages of clocks are listed: Stripe keeps at most 100
/// clocks per account, one page, so more means the server misbehaves.
const MAX_PAGES: usize = 50;

pub(super) async fn clock(args: ClockArgs) -> anyhow::Result<ExitCode> {
    let outcome = match args.action {
        ClockAction::Create(args) => create(args).await,
        ClockAction::Advance(args) => advance(args).await,
        ClockAction::List(args) => list(args).await,
    };
    Ok(match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    })
}

/// A refusal to print: what went wrong, and for a call that found no
/// Stripe, where to look.
fn failed(command: &str, stripe: &StripeTarget, e: &CallError) -> String {
    match stripe.hint(e) {
        Some(hint) => format!("{command}: {e}\n{hint}"),
        None => format!("{command}: {e}"),
    }
}

async fn create(args: CreateArgs) -> Result<(), String> {
    let stripe = args.stripe.target("paywire clock")?;
    let frozen_time = args.frozen_time.unwrap_or_else(|| Utc::now().timestamp());
    let mut params = Map::new();
    params.insert("frozen_time".into(), json!(frozen_time));
    if let Some(name) = &args.name {
        params.insert("name".into(), json!(name));
    }
    let call = Call {
        method: Method::Post,
        path: "/test_helpers/test_clocks".into(),
        params,
        idempotency_key: Some(format!("paywire-clock-{}", uuid::Uuid::new_v4().simple())),
    };
    let clock = stripe
        .client
        .call(&call)
        .await
        .map_err(|e| failed("paywire clock create", &stripe, &e))?;
    let id = clock["id"].as_str().unwrap_or_default();
    println!("{id}");
    println!("created test clock {id} on {}", stripe.described);
    println!(
        "  name:        {}",
        clock["name"].as_str().unwrap_or("(none)")
    );
    println!("  frozen time: {}", moment(&clock["frozen_time"]));
    println!("  status:      {}", text(&clock["status"]));
    println!(
        "Make customers on it with test_clock={id}; move it with `paywire clock advance {id} --by 1month`."
    );
    Ok(())
}

async fn advance(args: AdvanceArgs) -> Result<(), String> {
    let id = args.clock.trim();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!(
            "paywire clock advance: `{id}` is not a test clock id (clock_…; `paywire clock list` shows them)"
        ));
    }
    let command = format!("paywire clock advance {id}");
    let stripe = args.stripe.target("paywire clock")?;
    let path = format!("/test_helpers/test_clocks/{id}");
    let get = Call {
        method: Method::Get,
        path: path.clone(),
        params: Map::new(),
        idempotency_key: None,
    };
    let clock = stripe
        .client
        .call(&get)
        .await
        .map_err(|e| failed(&command, &stripe, &e))?;
    let Some(current) = clock["frozen_time"].as_i64() else {
        return Err(format!("{command}: the clock has no frozen_time: {clock}"));
    };
    let target = match (args.to, args.by) {
        (Some(to), _) => to,
        (None, Some(span)) => span.after(current).ok_or_else(|| {
            format!(
                "{command}: {} after {} is past the year 9999",
                span.text,
                moment(&json!(current))
            )
        })?,
        (None, None) => return Err(format!("{command}: say where to with --to or --by")),
    };
    if target <= current {
        return Err(format!(
            "{command}: the clock is at {}, and a test clock moves only forward: {} is not after it",
            moment(&json!(current)),
            moment(&json!(target))
        ));
    }
    let mut params = Map::new();
    params.insert("frozen_time".into(), json!(target));
    let post = Call {
        method: Method::Post,
        path: format!("{path}/advance"),
        params,
        idempotency_key: Some(format!("paywire-clock-{}", uuid::Uuid::new_v4().simple())),
    };
    stripe
        .client
        .call(&post)
        .await
        .map_err(|e| failed(&command, &stripe, &e))?;
    println!(
        "advancing {id} from {} to {} on {}",
        moment(&json!(current)),
        moment(&json!(target)),
        stripe.described
    );
    if args.no_wait {
        println!("not waiting: `paywire clock list` shows when {id} is ready");
        return Ok(());
    }
    let until = Until {
        field: "status",
        equals: "ready",
        timeout: Duration::from_secs(args.timeout),
    };
    match poll_until(&stripe.client, &get, &until).await {
        Ok(clock) => {
            println!("{id} is ready at {}", moment(&clock["frozen_time"]));
            Ok(())
        }
        Err(PollError::Call(e)) => Err(failed(&command, &stripe, &e)),
        Err(e) => Err(format!(
            "{command}: {e}. Stripe may still finish it: `paywire clock list` shows where it is, and --timeout waits longer."
        )),
    }
}

async fn list(args: ListArgs) -> Result<(), String> {
    let stripe = args.stripe.target("paywire clock")?;
    let mut clocks: Vec<Value> = Vec::new();
    for _ in 0..MAX_PAGES {
        let mut params = Map::new();
        params.insert("limit".into(), json!(100));
        if let Some(last) = clocks.last().and_then(|c| c["id"].as_str()) {
            params.insert("starting_after".into(), json!(last));
        }
        let call = Call {
            method: Method::Get,
            path: "/test_helpers/test_clocks".into(),
            params,
            idempotency_key: None,
        };
        let page = stripe
            .client
            .call(&call)
            .await
            .map_err(|e| failed("paywire clock list", &stripe, &e))?;
        let data = page["data"].as_array().cloned().unwrap_or_default();
        let more = page["has_more"] == true && !data.is_empty();
        clocks.extend(data);
        if !more {
            break;
        }
    }
    if clocks.is_empty() {
        println!("no test clocks on {}", stripe.described);
    } else {
        print!("{}", format_clocks(&clocks));
    }
    Ok(())
}

/// The table of `paywire clock list`, one clock a line, newest first as
/// Stripe lists them.
fn format_clocks(clocks: &[Value]) -> String {
    let rows: Vec<[String; 4]> = clocks
        .iter()
        .map(|c| {
            [
                text(&c["id"]),
                c["name"].as_str().unwrap_or("-").to_string(),
                rfc3339(c["frozen_time"].as_i64()).unwrap_or_else(|| text(&c["frozen_time"])),
                text(&c["status"]),
            ]
        })
        .collect();
    let header = ["ID", "NAME", "FROZEN TIME", "STATUS"].map(String::from);
    let widths: Vec<usize> = (0..4)
        .map(|i| {
            rows.iter()
                .chain([&header])
                .map(|row| row[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in [&header].into_iter().chain(rows.iter()) {
        let line = format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A field as text: a string as it is, anything else as JSON.
fn text(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_string)
}

/// A Unix time in RFC 3339, UTC, to the second.
fn rfc3339(seconds: Option<i64>) -> Option<String> {
    seconds
        .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0))
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// A Unix time as `2026-01-01T00:00:00Z (1767225600)`.
fn moment(value: &Value) -> String {
    match rfc3339(value.as_i64()) {
        Some(time) => format!("{time} ({value})"),
        None => text(value),
    }
}

/// The last second of the year 9999, past which no time is read.
const LAST_TIME: i64 = 253_402_300_799;

/// A TIME: a Unix timestamp, an RFC 3339 date-time, or a date (midnight
/// UTC); `now` is now.
fn parse_time(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let seconds = if text == "now" {
        Utc::now().timestamp()
    } else if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<i64>().unwrap_or(i64::MAX)
    } else if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        date.and_time(chrono::NaiveTime::MIN).and_utc().timestamp()
    } else if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        time.timestamp()
    } else if NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S").is_ok() {
        return Err(format!(
            "`{text}` has no offset: write `{text}Z` for UTC, or the offset it is in (`{text}+02:00`)"
        ));
    } else {
        return Err(format!(
            "`{text}` is not a time: write a Unix timestamp (1767225600), an RFC 3339 date-time (2026-01-01T12:00:00Z) or a date (2026-01-01, midnight UTC)"
        ));
    };
    if !(0..=LAST_TIME).contains(&seconds) {
        return Err(format!(
            "`{text}` is outside the times a test clock can take (1970 to 9999)"
        ));
    }
    Ok(seconds)
}

/// A DURATION: calendar months and seconds, added in that order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    months: u32,
    seconds: i64,
    /// As it was written, for messages.
    text: String,
}

impl Span {
    /// The time `self` after `from`: its months first, in UTC, each month
    /// ending no later than the last day of its month (January 31 and a
    /// month is February 28, or 29), then its seconds.
    fn after(&self, from: i64) -> Option<i64> {
        let start = DateTime::<Utc>::from_timestamp(from, 0)?;
        let moved = start.checked_add_months(Months::new(self.months))?;
        let end = moved.timestamp().checked_add(self.seconds)?;
        (end <= LAST_TIME).then_some(end)
    }
}

/// The seconds in each unit of a duration; `None` for months.
fn unit(name: &str) -> Result<Option<i64>, String> {
    Ok(match name {
        "s" | "sec" | "secs" | "second" | "seconds" => Some(1),
        "min" | "mins" | "minute" | "minutes" => Some(60),
        "h" | "hr" | "hrs" | "hour" | "hours" => Some(3_600),
        "d" | "day" | "days" => Some(86_400),
        "w" | "week" | "weeks" => Some(7 * 86_400),
        "month" | "months" | "mo" => None,
        "m" => {
            return Err("`m` could be minutes or months: write `min` or `month`".into());
        }
        "" => return Err("a number needs its unit".into()),
        other => {
            return Err(format!(
                "`{other}` is not a unit: use s, min, h, d, w or month(s)"
            ));
        }
    })
}

/// Parses a DURATION: numbers each with its unit, `31d`, `2h`, `1d12h`,
/// `90min`, `2w`, `1month`, `2months`.
fn parse_span(text: &str) -> Result<Span, String> {
    let written = text.trim();
    let compact: String = written.chars().filter(|c| !c.is_whitespace()).collect();
    let problem = |why: String| {
        format!(
            "`{written}` is not a duration: {why} (write 31d, 2h, 1d12h, 90min, 2w, 1month or 2months)"
        )
    };
    if compact.is_empty() {
        return Err(problem("it is empty".into()));
    }
    let mut span = Span {
        months: 0,
        seconds: 0,
        text: written.to_string(),
    };
    let mut rest = compact.as_str();
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(problem(format!("`{rest}` does not start with a number")));
        }
        let number: i64 = rest[..digits]
            .parse()
            .map_err(|_| problem("a number is too large".into()))?;
        rest = &rest[digits..];
        let letters = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        if letters == 0 && rest.starts_with(['.', ',']) {
            return Err(problem("use whole numbers, as 90min for 1.5h".into()));
        }
        let name = rest[..letters].to_ascii_lowercase();
        rest = &rest[letters..];
        let too_long = || problem("it is too long".into());
        match unit(&name).map_err(problem)? {
            Some(seconds) => {
                span.seconds = number
                    .checked_mul(seconds)
                    .and_then(|s| s.checked_add(span.seconds))
                    .ok_or_else(too_long)?;
            }
            None => {
                span.months = u32::try_from(number)
                    .ok()
                    .and_then(|m| m.checked_add(span.months))
                    .ok_or_else(too_long)?;
            }
        }
    }
    if span.months == 0 && span.seconds == 0 {
        return Err(problem("it does not move the clock".into()));
    }
    Ok(span)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-01-01T00:00:00Z.
    const NEW_YEAR: i64 = 1_767_225_600;
    const DAY: i64 = 86_400;

    fn at(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text).unwrap().timestamp()
    }

    #[test]
    fn times_are_timestamps_rfc3339_or_dates_at_midnight_utc() {
        assert_eq!(parse_time("1767225600"), Ok(NEW_YEAR));
        assert_eq!(parse_time(" 1767225600 "), Ok(NEW_YEAR));
        assert_eq!(parse_time("2026-01-01"), Ok(NEW_YEAR));
        assert_eq!(parse_time("2026-01-01T00:00:00Z"), Ok(NEW_YEAR));
        assert_eq!(parse_time("2026-01-01T02:00:00+02:00"), Ok(NEW_YEAR));
        assert_eq!(parse_time("2026-01-01T12:30:00.5Z"), Ok(NEW_YEAR + 45_000));
        assert_eq!(parse_time("0"), Ok(0));
        let now = Utc::now().timestamp();
        assert!((now - 5..=now + 5).contains(&parse_time("now").unwrap()));
    }

    #[test]
    fn bad_times_say_what_to_write() {
        for (text, problem) in [
            ("soon", "`soon` is not a time: write a Unix timestamp"),
            ("", "`` is not a time"),
            ("2026-13-01", "is not a time"),
            ("2026-02-30", "is not a time"),
            ("01/02/2026", "is not a time"),
            ("-5", "is not a time"),
            ("1.5", "is not a time"),
            (
                "2026-01-01T12:00:00",
                "has no offset: write `2026-01-01T12:00:00Z` for UTC",
            ),
            (
                "99999999999999999999",
                "outside the times a test clock can take",
            ),
            ("253402300800", "outside the times"),
        ] {
            let e = parse_time(text).unwrap_err();
            assert!(e.contains(problem), "{text}: {e}");
        }
        assert_eq!(parse_time("253402300799"), Ok(LAST_TIME));
    }

    #[test]
    fn durations_add_their_units() {
        let seconds = |text: &str| parse_span(text).unwrap().after(0).unwrap();
        assert_eq!(seconds("31d"), 31 * DAY);
        assert_eq!(seconds("2h"), 7_200);
        assert_eq!(seconds("1d12h"), DAY + 12 * 3_600);
        assert_eq!(seconds("1d 12h"), DAY + 12 * 3_600);
        assert_eq!(seconds("90min"), 5_400);
        assert_eq!(seconds("45s"), 45);
        assert_eq!(seconds("2w"), 14 * DAY);
        assert_eq!(seconds("3 Days"), 3 * DAY);
        assert_eq!(parse_span("1month").unwrap().months, 1);
        assert_eq!(parse_span("2months").unwrap().months, 2);
        assert_eq!(parse_span("1month2d").unwrap().seconds, 2 * DAY);
    }

    #[test]
    fn months_are_calendar_months_in_utc_ending_at_the_month_end() {
        let after = |from: &str, by: &str| {
            let moved = parse_span(by).unwrap().after(at(from)).unwrap();
            rfc3339(Some(moved)).unwrap()
        };
        assert_eq!(
            after("2026-01-01T00:00:00Z", "1month"),
            "2026-02-01T00:00:00Z"
        );
        assert_eq!(
            after("2026-01-31T00:00:00Z", "1month"),
            "2026-02-28T00:00:00Z"
        );
        assert_eq!(
            after("2028-01-31T10:00:00Z", "1month"),
            "2028-02-29T10:00:00Z"
        );
        assert_eq!(
            after("2026-01-31T00:00:00Z", "2months"),
            "2026-03-31T00:00:00Z"
        );
        assert_eq!(
            after("2026-12-15T00:00:00Z", "1month"),
            "2027-01-15T00:00:00Z"
        );
        // Months first, then the rest: a month from January 31 is
        // February 28, and a day later March 1.
        assert_eq!(
            after("2026-01-31T00:00:00Z", "1month1d"),
            "2026-03-01T00:00:00Z"
        );
        // An offset in the input changes nothing: months are counted in UTC.
        assert_eq!(
            parse_span("1month")
                .unwrap()
                .after(at("2026-01-31T23:30:00-05:00")),
            Some(at("2026-03-01T04:30:00Z"))
        );
        assert_eq!(parse_span("1month").unwrap().after(LAST_TIME - DAY), None);
    }

    #[test]
    fn bad_durations_say_what_is_wrong() {
        for (text, problem) in [
            ("", "it is empty"),
            ("31", "a number needs its unit"),
            ("d", "`d` does not start with a number"),
            (
                "1m",
                "`m` could be minutes or months: write `min` or `month`",
            ),
            ("2 fortnights", "`fortnights` is not a unit"),
            ("0d", "it does not move the clock"),
            ("-1d", "`-1d` does not start with a number"),
            ("1.5h", "use whole numbers, as 90min for 1.5h"),
            ("99999999999999999999d", "a number is too large"),
            ("9999999999999999d", "it is too long"),
            ("5000000000months", "it is too long"),
        ] {
            let e = parse_span(text).unwrap_err();
            assert!(e.contains(problem), "{text}: {e}");
            assert!(e.contains("write 31d, 2h"), "{text}: {e}");
        }
    }

    #[test]
    fn the_list_is_a_table_of_id_name_time_and_status() {
        let clocks = [
            json!({"id": "clock_1", "name": "renewals", "frozen_time": NEW_YEAR, "status": "ready"}),
            json!({"id": "clock_22", "name": null, "frozen_time": NEW_YEAR + DAY, "status": "advancing"}),
        ];
        assert_eq!(
            format_clocks(&clocks),
            "ID        NAME      FROZEN TIME           STATUS\n\
             clock_1   renewals  2026-01-01T00:00:00Z  ready\n\
             clock_22  -         2026-01-02T00:00:00Z  advancing\n"
        );
    }
}
