use super::*;

fn codes(text: &str) -> Vec<&'static str> {
    find_secrets(text.as_bytes())
        .iter()
        .map(|found| found.code)
        .collect()
}

// Assembled at run time so that this file itself holds no complete token.
fn token(prefix: &str, body: &str) -> String {
    format!("{prefix}{body}")
}

#[test]
fn private_keys_pem_and_openssh() {
    for label in ["RSA ", "EC ", "", "OPENSSH ", "ENCRYPTED "] {
        let text = format!(
            "-----BEGIN {label}PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END {label}PRIVATE KEY-----\n"
        );
        assert_eq!(codes(&text), vec![CODE_PRIVATE_KEY], "{label}");
    }
    // Near misses: a public key, and a header alone (a string inside a library).
    assert!(codes("-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOC\n").is_empty());
    assert!(codes("\"-----BEGIN RSA PRIVATE KEY-----\"").is_empty());
    // Header strings in a binary: no line break, no block.
    assert!(codes("-----BEGIN RSA PRIVATE KEY-----\0-----BEGIN EC PRIVATE KEY-----\0MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\0").is_empty());
    // A header and a body but no END line.
    assert!(codes("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n").is_empty());
}

#[test]
fn cloud_keys_and_api_tokens() {
    let aws = token("AKIA", "Z7Q3X5W2R4T6Y8U1");
    assert_eq!(
        codes(&format!("aws_key_id {aws}\n")),
        vec![CODE_AWS_ACCESS_KEY]
    );
    assert!(codes(&token("AKIA", "IOSFODNN7EXAMPLE")).is_empty());
    assert!(codes(&format!("X{aws}")).is_empty());
    assert!(codes(&format!("{aws}0")).is_empty());
    let gcp = "{\n  \"type\": \"service_account\",\n  \"project_id\": \"p\",\n  \"private_key_id\": \"1\",\n  \"private_key\": \"k\"\n}";
    assert_eq!(codes(gcp), vec![CODE_GCP_SERVICE_ACCOUNT]);
    assert!(codes("{\"type\": \"authorized_user\", \"private_key\": \"k\"}").is_empty());
    let stripe = token("sk_live_", "51Hc8aQ2eZvKYlo2C9xW3mPq");
    assert_eq!(codes(&stripe), vec![CODE_STRIPE_KEY]);
    assert!(codes(&token("sk_test_", "51Hc8aQ2eZvKYlo2C9xW3mPq")).is_empty());
    let slack = token("xoxb-", "123456789012-abcdefABCDEF");
    assert_eq!(codes(&slack), vec![CODE_SLACK_TOKEN]);
    let github = token("ghp_", "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A");
    assert_eq!(codes(&github), vec![CODE_GITHUB_TOKEN]);
    assert!(codes(&token("ghp_", "short")).is_empty());
    let pat = token("github_pat_", "11ABCDEFG0123456789_abcdefghijklmnop");
    assert_eq!(codes(&pat), vec![CODE_GITHUB_TOKEN]);
}

#[test]
fn passwords_in_configuration_keys() {
    for line in [
        "password=hunter2hunter2",
        "DB_PASSWORD: \"s3cr3t-Value\"",
        "  \"client_secret\": \"abcd1234efgh\",",
        "export API_KEY='k3y-v4lue-123'",
        "smtp.passwd = Tr0ub4dor",
    ] {
        assert_eq!(codes(line), vec![CODE_PASSWORD], "{line}");
    }
    for line in [
        "password=",
        "password=${DB_PASSWORD}",
        "password: <your password here>",
        "# password=hunter2hunter2",
        "if password == other {",
        "password_file=/run/secrets/db",
        "password = os.environ['DB']",
        "PASSWORD=********",
        "username=alice",
        "passwd:         files",
        "passwd: files",
        "d_grpasswd='define'",
        "base-passwd: spelling-error-in-binary",
        "gnutls_session_get_master_secret: Added.",
    ] {
        assert!(codes(line).is_empty(), "{line}");
    }
}

#[test]
fn matches_never_hold_the_secret() {
    let aws = token("AKIA", "Z7Q3X5W2R4T6Y8U1");
    let text = format!("key={aws}\npassword=hunter2hunter2\n");
    let found = find_secrets(text.as_bytes());
    assert_eq!(found.len(), 2);
    let shown = format!("{found:?}");
    assert!(!shown.contains("Z7Q3X5W2R4T6Y8U1"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("AKIA****(16 chars)"), "{shown}");
}

#[test]
fn one_search_finds_every_rule_string_overlapping_ones_included() {
    let body = "51Hc8aQ2eZvKYlo2C9xW3mPq";
    assert_eq!(codes(&token("rk_live_", body)), vec![CODE_STRIPE_KEY]);
    assert!(codes(&token("pk_live_", body)).is_empty());
    for kind in ["b", "p", "a", "r", "s", "e"] {
        let slack = token(&format!("xox{kind}-"), "123456789012-abcdefABCDEF");
        assert_eq!(codes(&slack), vec![CODE_SLACK_TOKEN], "{kind}");
    }
    // Inside a word, as before.
    let inside = format!("xo{}", token("xoxb-", "123456789012-abcdefABCDEF"));
    assert!(codes(&inside).is_empty());
    for prefix in ["gho_", "ghu_", "ghs_", "ghr_"] {
        let github = token(prefix, "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A");
        assert_eq!(codes(&github), vec![CODE_GITHUB_TOKEN], "{prefix}");
    }
    // A Slack prefix whose `-` begins a private-key header: both strings are found.
    let key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n";
    let text = format!("{}{key}", token("xoxb", ""));
    let found = find_secrets(format!("{}-{}", token("xoxb", ""), &key[1..]).as_bytes());
    assert_eq!(found.len(), 1, "{text}");
    assert_eq!(found[0].code, CODE_PRIVATE_KEY);
    assert_eq!(found[0].offset, 4);
    // Every listed spelling of a key name is looked at; others are not.
    for line in [
        "Password=hunter2hunter2",
        "PASSWORD=hunter2hunter2",
        "ApiKey=k3y-v4lue-123",
        "apiKey=k3y-v4lue-123",
        "PRIVATE_KEY=k3y-v4lue-123",
        "Auth_Token: abc123def456",
    ] {
        assert_eq!(codes(line), vec![CODE_PASSWORD], "{line}");
    }
    assert!(codes("pAssWORD=hunter2hunter2").is_empty());
    assert!(codes("x\npass").is_empty());
    // Line starts found for hints in order, over lines and a long line.
    let lines = format!(
        "{}\nauth_token_password=hunter2hunter2\n{}\nDB_PASSWORD=s3cr3t-Value\n",
        "x".repeat(5000),
        "secret ".repeat(300)
    );
    let found = find_secrets(lines.as_bytes());
    let offsets: Vec<usize> = found.iter().map(|found| found.offset).collect();
    assert_eq!(offsets, vec![5001, lines.find("DB_PASSWORD").unwrap()]);
}

#[test]
fn no_searched_string_is_a_prefix_of_another() {
    // The one search reports one string per start; a string that began another would hide it.
    let mut strings: Vec<&str> = vec!["-----BEGIN ", "AKIA", "ASIA", "\"type\""];
    strings.extend(TOKEN_RULES.iter().map(|(prefix, ..)| *prefix));
    strings.extend(KEY_NAME_HINTS);
    assert_eq!(needles().1.len(), strings.len());
    for (index, string) in strings.iter().enumerate() {
        for (other_index, other) in strings.iter().enumerate() {
            if index != other_index {
                assert!(!other.starts_with(string), "`{string}` begins `{other}`");
            }
        }
    }
}
