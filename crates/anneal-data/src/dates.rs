//! Date and time features: parse ISO-8601 dates (`2007-11-11`, `2007-11-11T08:30:00`,
//! `2007-11-11 08:30`, `2007/11/11`) and derive calendar parts, weekend and holiday
//! flags, and cyclical sin/cos encodings. Plain civil-calendar arithmetic (proleptic
//! Gregorian, no time zones).

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};

/// A parsed date-time (seconds are kept for completeness; parts use the hour).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateTime {
    /// Year.
    pub year: i32,
    /// Month, 1..=12.
    pub month: u32,
    /// Day of month, 1..=31.
    pub day: u32,
    /// Hour, 0..=23.
    pub hour: u32,
    /// Minute, 0..=59.
    pub minute: u32,
    /// Second, 0..=59.
    pub second: u32,
}

impl DateTime {
    /// Parses an ISO-8601 date or date-time; `None` if it is not one.
    ///
    /// ```
    /// use anneal_data::dates::DateTime;
    ///
    /// let d = DateTime::parse("2007-11-11 08:30").unwrap();
    /// assert_eq!((d.year, d.month, d.day, d.hour), (2007, 11, 11, 8));
    /// assert_eq!(d.weekday(), 6); // a Sunday (Monday = 0)
    /// assert!(DateTime::parse("2007-02-30").is_none());
    /// ```
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (date, time) = match s.find(['T', ' ']) {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        };
        let mut parts = date.split(['-', '/']);
        let year_text = parts.next()?;
        if year_text.len() != 4 {
            return None; // `11/11/07` is ambiguous, not ISO
        }
        let year: i32 = year_text.parse().ok()?;
        let month: u32 = parts.next()?.parse().ok()?;
        let day: u32 = parts.next()?.parse().ok()?;
        if parts.next().is_some() || !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        let (mut hour, mut minute, mut second) = (0, 0, 0);
        if let Some(t) = time {
            let t = t.trim_end_matches('Z');
            let mut hms = t.split(':');
            hour = hms.next()?.parse().ok()?;
            minute = hms.next().map_or(Some(0), |m| m.parse().ok())?;
            second = hms.next().map_or(Some(0.0), |s| s.parse::<f64>().ok())? as u32;
            if hour > 23 || minute > 59 || second > 60 {
                return None;
            }
        }
        Some(Self { year, month, day, hour, minute, second })
    }

    /// Days since 1970-01-01 (negative before).
    pub fn days_since_epoch(&self) -> i64 {
        // Howard Hinnant's days-from-civil algorithm.
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// Day of the week, Monday = 0 ... Sunday = 6.
    pub fn weekday(&self) -> u32 {
        // 1970-01-01 was a Thursday (3).
        (self.days_since_epoch() + 3).rem_euclid(7) as u32
    }

    /// Day of the year, 1..=366.
    pub fn day_of_year(&self) -> u32 {
        (1..self.month).map(|m| days_in_month(self.year, m)).sum::<u32>() + self.day
    }
}

/// The civil date (year, month, day) of a day count since 1970-01-01 (Howard
/// Hinnant's civil-from-days, the inverse of [`DateTime::days_since_epoch`]).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A feature derived from a date column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatePart {
    /// The year.
    Year,
    /// Month 1–12.
    Month,
    /// Day of month 1–31.
    Day,
    /// Monday = 0 ... Sunday = 6.
    Weekday,
    /// 1–366.
    DayOfYear,
    /// 0–23.
    Hour,
    /// 1 on Saturday and Sunday.
    Weekend,
    /// 1 on a date of the supplied holiday calendar.
    Holiday,
    /// sin and cos of the month on the unit circle (December next to January).
    MonthCyclical,
    /// sin and cos of the weekday.
    WeekdayCyclical,
    /// sin and cos of the day of the year.
    DayOfYearCyclical,
    /// sin and cos of the hour.
    HourCyclical,
}

impl DatePart {
    /// Output names for column `col`.
    pub fn names(self, col: &str) -> Vec<String> {
        let base = match self {
            DatePart::Year => "year",
            DatePart::Month => "month",
            DatePart::Day => "day",
            DatePart::Weekday => "weekday",
            DatePart::DayOfYear => "day_of_year",
            DatePart::Hour => "hour",
            DatePart::Weekend => "weekend",
            DatePart::Holiday => "holiday",
            DatePart::MonthCyclical => "month",
            DatePart::WeekdayCyclical => "weekday",
            DatePart::DayOfYearCyclical => "day_of_year",
            DatePart::HourCyclical => "hour",
        };
        match self {
            DatePart::MonthCyclical
            | DatePart::WeekdayCyclical
            | DatePart::DayOfYearCyclical
            | DatePart::HourCyclical => {
                vec![format!("{col}_{base}_sin"), format!("{col}_{base}_cos")]
            }
            _ => vec![format!("{col}_{base}")],
        }
    }

    /// The part's value(s) for `d`; `holidays` holds `days_since_epoch` values, sorted.
    pub fn values(self, d: &DateTime, holidays: &[i64]) -> Vec<f64> {
        let cyc = |v: f64, period: f64| {
            let a = std::f64::consts::TAU * v / period;
            vec![a.sin(), a.cos()]
        };
        match self {
            DatePart::Year => vec![f64::from(d.year)],
            DatePart::Month => vec![f64::from(d.month)],
            DatePart::Day => vec![f64::from(d.day)],
            DatePart::Weekday => vec![f64::from(d.weekday())],
            DatePart::DayOfYear => vec![f64::from(d.day_of_year())],
            DatePart::Hour => vec![f64::from(d.hour)],
            DatePart::Weekend => vec![f64::from(u8::from(d.weekday() >= 5))],
            DatePart::Holiday => vec![f64::from(u8::from(holidays.binary_search(&d.days_since_epoch()).is_ok()))],
            DatePart::MonthCyclical => cyc(f64::from(d.month - 1), 12.0),
            DatePart::WeekdayCyclical => cyc(f64::from(d.weekday()), 7.0),
            DatePart::DayOfYearCyclical => {
                cyc(f64::from(d.day_of_year() - 1), if is_leap(d.year) { 366.0 } else { 365.0 })
            }
            DatePart::HourCyclical => cyc(f64::from(d.hour), 24.0),
        }
    }
}

/// Parses a holiday calendar (ISO dates) into sorted day numbers.
pub fn holiday_calendar(dates: &[String]) -> Result<Vec<i64>> {
    let mut days = dates
        .iter()
        .map(|s| {
            DateTime::parse(s)
                .map(|d| d.days_since_epoch())
                .ok_or_else(|| DataError::InvalidParameter(format!("holiday `{s}` is not an ISO date (YYYY-MM-DD)")))
        })
        .collect::<Result<Vec<_>>>()?;
    days.sort_unstable();
    Ok(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_arithmetic() {
        let d = DateTime::parse("2000-03-01").unwrap();
        assert_eq!(d.days_since_epoch(), 11_017);
        assert_eq!(d.day_of_year(), 61); // leap year
        assert_eq!(DateTime::parse("1970-01-01").unwrap().weekday(), 3);
        assert_eq!(DateTime::parse("2024-02-29T23:59:59Z").unwrap().hour, 23);
        assert!(DateTime::parse("2023-02-29").is_none());
        assert!(DateTime::parse("11/11/07").is_none());
    }
}
