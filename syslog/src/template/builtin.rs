//! rsyslog's built-in templates, as template text.

use super::{Part, Template};

/// rsyslog's built-in template `name` (`RSYSLOG_FileFormat`, …), or `None`.
pub fn builtin(name: &str) -> Option<Template> {
    let text = match name {
        "RSYSLOG_FileFormat" => "%TIMESTAMP:::date-rfc3339% %HOSTNAME% %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\\n",
        "RSYSLOG_TraditionalFileFormat" => "%TIMESTAMP% %HOSTNAME% %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\\n",
        "RSYSLOG_ForwardFormat" => "<%PRI%>%TIMESTAMP:::date-rfc3339% %HOSTNAME% %syslogtag:1:32%%msg:::sp-if-no-1st-sp%%msg%",
        "RSYSLOG_TraditionalForwardFormat" => "<%PRI%>%TIMESTAMP% %HOSTNAME% %syslogtag:1:32%%msg:::sp-if-no-1st-sp%%msg%",
        "RSYSLOG_SyslogProtocol23Format" => "<%PRI%>1 %TIMESTAMP:::date-rfc3339% %HOSTNAME% %APP-NAME% %PROCID% %MSGID% %STRUCTURED-DATA% %msg%\\n",
        "RSYSLOG_FileFormatUTC" => "%TIMESTAMP:::date-rfc3339,date-utc% %HOSTNAME% %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\\n",
        _ => return None,
    };
    let mut t = Template::parse(name, text).0;
    // They are C code in rsyslog (strgen modules), which adds the space of
    // `sp-if-no-1st-sp` also before an empty MSG.
    for part in &mut t.parts {
        if let Part::Property(p) = part {
            p.space_even_if_empty = p.sp_if_no_first_sp;
        }
    }
    Some(t)
}
