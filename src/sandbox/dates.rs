//! Timestamps in the forms the V1 API uses: US Pacific wall-clock time with no offset,
//! seven fractional digits on orders and shipments, three on stores, date only for
//! `shipDate`.

use time::format_description::FormatItem;
use time::macros::format_description;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset, Weekday};

const ORDER_FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:7]");
const STORE_FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]");
const DATE_FORMAT: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// Returns the current US Pacific wall-clock time.
pub(crate) fn pacific_now() -> PrimitiveDateTime {
    to_pacific(OffsetDateTime::now_utc())
}

/// Converts a UTC instant to US Pacific wall-clock time, following the US daylight saving
/// rule in force since 2007 (second Sunday in March to first Sunday in November, 02:00
/// local).
pub(crate) fn to_pacific(instant: OffsetDateTime) -> PrimitiveDateTime {
    let utc = instant.to_offset(UtcOffset::UTC);
    let year = utc.year();
    let dst_start = nth_sunday(year, Month::March, 2).map(|day| utc_at(day, 10));
    let dst_end = nth_sunday(year, Month::November, 1).map(|day| utc_at(day, 9));
    let in_dst = match (dst_start, dst_end) {
        (Some(start), Some(end)) => utc >= start && utc < end,
        _ => false,
    };
    let hours = if in_dst { -7 } else { -8 };
    let offset = UtcOffset::from_hms(hours, 0, 0).unwrap_or(UtcOffset::UTC);
    let local = utc.to_offset(offset);
    PrimitiveDateTime::new(local.date(), local.time())
}

fn nth_sunday(year: i32, month: Month, n: u8) -> Option<Date> {
    let first = Date::from_calendar_date(year, month, 1).ok()?;
    let days_to_sunday = (7 - first.weekday().number_days_from_sunday()) % 7;
    let day = 1 + days_to_sunday + 7 * (n - 1);
    let date = Date::from_calendar_date(year, month, day).ok()?;
    debug_assert_eq!(date.weekday(), Weekday::Sunday);
    Some(date)
}

fn utc_at(day: Date, hour: u8) -> OffsetDateTime {
    let time = Time::from_hms(hour, 0, 0).unwrap_or(Time::MIDNIGHT);
    PrimitiveDateTime::new(day, time).assume_utc()
}

/// Formats an order or shipment timestamp, e.g. `2015-06-29T13:05:13.4930000`.
pub(crate) fn order_timestamp(value: PrimitiveDateTime) -> String {
    value.format(ORDER_FORMAT).unwrap_or_default()
}

/// Formats a store timestamp, e.g. `2014-11-06T15:21:13.223`.
pub(crate) fn store_timestamp(value: PrimitiveDateTime) -> String {
    value.format(STORE_FORMAT).unwrap_or_default()
}

/// Formats a date alone, e.g. `2015-07-02`.
pub(crate) fn date_only(value: PrimitiveDateTime) -> String {
    value.format(DATE_FORMAT).unwrap_or_default()
}

/// Parses a request date-time as clients send it: `yyyy-mm-dd hh:mm:ss`, the same with a
/// `T`, optionally followed by `Z` or fractional seconds (ignored), or a date alone, which
/// means midnight. All are taken as Pacific time, as the V1 API does.
pub(crate) fn parse_request_datetime(text: &str) -> Option<PrimitiveDateTime> {
    let trimmed = text.trim().trim_end_matches('Z');
    let without_fraction = match trimmed.split_once('.') {
        Some((head, _)) if head.len() >= 19 => head,
        _ => trimmed,
    };
    let (date_text, time_text) = match without_fraction.get(10..11) {
        Some(" " | "T") => (&without_fraction[..10], Some(&without_fraction[11..])),
        Some(_) => return None,
        None => (without_fraction, None),
    };
    let date = parse_fields(date_text, '-').and_then(|[year, month, day]| {
        let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
        Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()
    })?;
    let time = match time_text {
        None => Time::MIDNIGHT,
        Some(text) => {
            let [hour, minute, second] = parse_fields(text, ':')?;
            Time::from_hms(
                u8::try_from(hour).ok()?,
                u8::try_from(minute).ok()?,
                u8::try_from(second).ok()?,
            )
            .ok()?
        }
    };
    Some(PrimitiveDateTime::new(date, time))
}

/// Splits `text` into exactly three unsigned numbers separated by `separator`.
fn parse_fields(text: &str, separator: char) -> Option<[u32; 3]> {
    let mut parts = text.split(separator).map(|part| {
        if part.is_empty() || !part.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        part.parse::<u32>().ok()
    });
    let fields = [parts.next()??, parts.next()??, parts.next()??];
    parts.next().is_none().then_some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn winter_uses_pst() {
        let local = to_pacific(datetime!(2026-01-15 20:00:00 UTC));
        assert_eq!(order_timestamp(local), "2026-01-15T12:00:00.0000000");
    }

    #[test]
    fn summer_uses_pdt() {
        let local = to_pacific(datetime!(2026-07-01 20:00:00.123 UTC));
        assert_eq!(order_timestamp(local), "2026-07-01T13:00:00.1230000");
        assert_eq!(store_timestamp(local), "2026-07-01T13:00:00.123");
    }

    #[test]
    fn dst_switches_at_two_local() {
        // 2026-03-08 is the second Sunday in March.
        let before = to_pacific(datetime!(2026-03-08 09:59:59 UTC));
        let after = to_pacific(datetime!(2026-03-08 10:00:00 UTC));
        assert_eq!(store_timestamp(before), "2026-03-08T01:59:59.000");
        assert_eq!(store_timestamp(after), "2026-03-08T03:00:00.000");
    }

    #[test]
    fn request_formats_parse() {
        let expected = datetime!(2016-11-29 23:59:59);
        assert_eq!(
            parse_request_datetime("2016-11-29 23:59:59"),
            Some(expected)
        );
        assert_eq!(
            parse_request_datetime("2016-11-29T23:59:59Z"),
            Some(expected)
        );
        assert_eq!(
            parse_request_datetime("2016-11-29"),
            Some(datetime!(2016-11-29 00:00:00))
        );
        assert_eq!(parse_request_datetime("yesterday"), None);
        assert_eq!(parse_request_datetime("2016-13-01"), None);
        assert_eq!(parse_request_datetime("2016-11-29 25:00:00"), None);
    }
}
