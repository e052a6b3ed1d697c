//! The template registry: `$template` statements and rsyslog's built-in
//! templates, by name, and the checks both daemons make on them.

use std::collections::HashMap;
use std::sync::Arc;

use syslog::config::{ConfigText, Location};
use syslog::template::{builtin, Template};

/// Templates defined so far in a configuration (rsyslog's rule: a template is
/// usable only below the line that defines it).
#[derive(Debug, Default)]
pub struct TemplateRegistry {
    defined: HashMap<String, Arc<Template>>,
}

impl TemplateRegistry {
    /// Adds a `$template NAME,"text"[,options]` statement; a malformed text is
    /// kept as rsyslog keeps it, with a warning.
    pub fn define(&mut self, problems: &mut ConfigText, location: &Location, name: &str, text: &str) {
        let (template, problem) = Template::parse(name, text);
        if let Some(p) = problem {
            problems.warn(location, format!("template '{name}' is malformed: {}", p.0));
        }
        self.defined.insert(name.to_string(), Arc::new(template));
    }

    /// A template defined above, else a built-in one.
    pub fn get(&self, name: &str) -> Option<Arc<Template>> {
        self.defined.get(name).cloned().or_else(|| builtin(name).map(Arc::new))
    }

    /// A template defined above (built-ins excluded: a dynamic file name must be defined).
    pub fn defined(&self, name: &str) -> Option<Arc<Template>> {
        self.defined.get(name).cloned()
    }

    /// Whether `name` can be used from here on.
    pub fn knows(&self, name: &str) -> bool {
        self.defined.contains_key(name) || builtin(name).is_some()
    }

    /// The template an action names, or an error on its line when there is none.
    pub fn for_action(&self, problems: &mut ConfigText, location: &Location, name: &str) -> Option<Arc<Template>> {
        let found = self.get(name);
        if found.is_none() {
            problems.error(location, format!("no template named '{name}' is defined above this line"));
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defined_then_builtin_lookup_and_errors() {
        let mut problems = ConfigText::default();
        let loc = Location { file: Arc::from("c.conf"), line: 2 };
        let mut reg = TemplateRegistry::default();
        assert!(reg.knows("RSYSLOG_FileFormat"));
        assert!(!reg.knows("Mine"));
        reg.define(&mut problems, &loc, "Mine", "%msg%\\n");
        assert!(reg.knows("Mine") && reg.defined("Mine").is_some());
        assert!(reg.defined("RSYSLOG_FileFormat").is_none());
        assert!(reg.for_action(&mut problems, &loc, "Nope").is_none());
        let p: Vec<String> = problems.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(p, ["c.conf:2: no template named 'Nope' is defined above this line"]);
        reg.define(&mut problems, &loc, "Bad", "%msg");
        assert!(problems.problems.last().unwrap().to_string().contains("template 'Bad' is malformed"));
    }
}
