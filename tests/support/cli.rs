//! Command-line flags of the development binaries, `local-api` and `demo`.

/// Flags of the form `--name value`, each given at most once.
#[derive(Debug)]
pub struct Flags<'a> {
    values: Vec<(&'a str, &'a str)>,
}

impl<'a> Flags<'a> {
    /// Parses `arguments`, rejecting flags not in `accepted`, repeated flags and flags
    /// without a value.
    pub fn parse(arguments: &'a [String], accepted: &[&str]) -> Result<Self, String> {
        let mut values: Vec<(&str, &str)> = Vec::new();
        let mut remaining = arguments.iter();
        while let Some(flag) = remaining.next() {
            if !accepted.contains(&flag.as_str()) {
                return Err(format!("unknown argument {flag:?}"));
            }
            if values.iter().any(|(name, _)| name == flag) {
                return Err(format!("{flag} is given twice"));
            }
            let value = remaining
                .next()
                .ok_or_else(|| format!("{flag} needs a value"))?;
            values.push((flag.as_str(), value.as_str()));
        }
        Ok(Self { values })
    }

    /// Returns the value of `flag`, if it was given.
    pub fn value(&self, flag: &str) -> Option<&'a str> {
        self.values
            .iter()
            .find(|(name, _)| *name == flag)
            .map(|(_, value)| *value)
    }

    /// Returns the value of `flag`, or an error that names it.
    pub fn required(&self, flag: &str) -> Result<&'a str, String> {
        self.value(flag)
            .ok_or_else(|| format!("{flag} is required"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arguments(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn flags_read_values() {
        let given = arguments("--port 0 --address-file out");
        let flags = Flags::parse(&given, &["--port", "--address-file"]).unwrap();

        assert_eq!(flags.value("--port"), Some("0"));
        assert_eq!(flags.required("--address-file"), Ok("out"));
        assert_eq!(flags.value("--other"), None);
    }

    #[test]
    fn flags_reject_bad_arguments() {
        for text in ["--unknown 1", "--port", "--port 1 --port 2", "positional"] {
            let given = arguments(text);
            assert!(Flags::parse(&given, &["--port"]).is_err(), "{text}");
        }
    }
}
