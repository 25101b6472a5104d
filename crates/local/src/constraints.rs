//! Input constraints of an AWS service model (length, pattern, range), reported the way AWS's
//! request validation words them: `N validation error(s) detected: Value 'v' at 'member'
//! failed to satisfy constraint: Member must ...`, violations joined by `; `. Sensitive
//! members are reported without their value (`Value at 'body' ...`).

/// Collects the violations of one request, in the order they were checked.
#[derive(Debug, Default)]
pub struct Violations(Vec<String>);

/// A member's name as AWS reports it (lower camel case: `InferenceId` -> `inferenceId`).
pub fn member_name(member: &str) -> String {
    let mut c = member.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// One member's value, and whether the model marks it sensitive (its value is not echoed).
#[derive(Debug, Clone, Copy)]
pub struct Member<'a> {
    pub name: &'a str,
    pub value: &'a str,
    pub sensitive: bool,
}

impl<'a> Member<'a> {
    pub fn new(name: &'a str, value: &'a str) -> Member<'a> {
        Member {
            name,
            value,
            sensitive: false,
        }
    }

    pub fn sensitive(name: &'a str, value: &'a str) -> Member<'a> {
        Member {
            name,
            value,
            sensitive: true,
        }
    }
}

impl Violations {
    fn push(&mut self, m: Member<'_>, rule: String) {
        let at = member_name(m.name);
        let value = if m.sensitive {
            String::new()
        } else {
            format!(" '{}'", m.value)
        };
        self.0.push(format!(
            "Value{value} at '{at}' failed to satisfy constraint: Member must {rule}"
        ));
    }

    /// `min`/`max` length in characters (the model's `@length`).
    pub fn length(&mut self, m: Member<'_>, min: usize, max: usize) {
        self.length_of(m, m.value.chars().count(), min, max);
    }

    /// [`Violations::length`] for a member whose length `n` is known (a blob's bytes).
    pub fn length_of(&mut self, m: Member<'_>, n: usize, min: usize, max: usize) {
        if n < min {
            self.push(m, format!("have length greater than or equal to {min}"));
        }
        if n > max {
            self.push(m, format!("have length less than or equal to {max}"));
        }
    }

    /// `ok` says whether the value matches `pattern` (the model's `@pattern`, quoted as is).
    pub fn pattern(&mut self, m: Member<'_>, pattern: &str, ok: bool) {
        if !ok {
            self.push(m, format!("satisfy regular expression pattern: {pattern}"));
        }
    }

    /// An integer member within `min..=max` (the model's `@range`).
    pub fn range(&mut self, m: Member<'_>, value: i64, min: i64, max: i64) {
        if value < min {
            self.push(m, format!("have value greater than or equal to {min}"));
        }
        if value > max {
            self.push(m, format!("have value less than or equal to {max}"));
        }
    }

    /// The combined message, if anything was violated.
    pub fn message(&self) -> Option<String> {
        let n = self.0.len();
        match n {
            0 => None,
            1 => Some(format!("1 validation error detected: {}", self.0[0])),
            _ => Some(format!(
                "{n} validation errors detected: {}",
                self.0.join("; ")
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_worded_as_aws_words_them() {
        let mut v = Violations::default();
        assert_eq!(v.message(), None);
        v.length(Member::new("InferenceId", ""), 1, 64);
        assert_eq!(
            v.message().unwrap(),
            "1 validation error detected: Value '' at 'inferenceId' failed to satisfy constraint: Member must have length greater than or equal to 1"
        );
        v.range(Member::new("RequestTTLSeconds", "30"), 30, 60, 21600);
        v.length(Member::sensitive("Body", "x"), 0, 0);
        let m = v.message().unwrap();
        assert!(m.starts_with("3 validation errors detected: "), "{m}");
        assert!(m.contains("; Value '30' at 'requestTTLSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60"), "{m}");
        assert!(m.ends_with("Value at 'body' failed to satisfy constraint: Member must have length less than or equal to 0"), "{m}");
    }
}
