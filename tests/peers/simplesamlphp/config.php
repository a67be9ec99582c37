<?php
/*
 * SimpleSAMLphp 1.19 (Debian 12's `simplesamlphp` package) as the SAML IdP
 * of Steward's SAML tests. A template: tests/it/common/saml_idp.rs copies it
 * into the run's temp dir and replaces @BASE_URL@ (http://127.0.0.1:PORT/)
 * and @RUN_DIR@ (that temp dir), then serves it with
 *   SIMPLESAMLPHP_CONFIG_DIR=@RUN_DIR@/config php -S 127.0.0.1:PORT -t /usr/share/simplesamlphp/www
 * Nothing here is read from /etc/simplesamlphp or /var/lib/simplesamlphp.
 */
$config = [
    'baseurlpath' => '@BASE_URL@',
    'certdir' => '@RUN_DIR@/cert/',
    'loggingdir' => '@RUN_DIR@/log/',
    'datadir' => '@RUN_DIR@/data/',
    'tempdir' => '@RUN_DIR@/tmp/',
    // Read on every request: the harness rewrites saml20-sp-remote.php
    // while the server runs to add the SPs (Steward SAML connections).
    'metadatadir' => '@RUN_DIR@/config/metadata/',
    'metadata.sources' => [
        ['type' => 'flatfile'],
    ],
    'attributenamemapdir' => '/usr/share/simplesamlphp/config/attributemap/',

    'technicalcontact_name' => 'Steward tests',
    'technicalcontact_email' => 'tests@idp.steward.test',
    'timezone' => 'UTC',

    // Test-only secrets.
    'secretsalt' => 'steward-test-idp-salt-not-secret',
    'auth.adminpassword' => 'steward-test-admin',
    'admin.protectindexpage' => false,
    'admin.protectmetadata' => false,
    'admin.checkforupdates' => false,
    'trusted.url.domains' => ['127.0.0.1'],
    'enable.http_post' => false,

    'debug' => [
        'saml' => false,
        'backtraces' => true,
        'validatexml' => false,
    ],
    'showerrors' => true,
    'errorreporting' => false,
    'logging.level' => SimpleSAML\Logger::NOTICE,
    'logging.handler' => 'file',
    'logging.logfile' => 'simplesamlphp.log',
    'statistics.out' => [],

    'enable.saml20-idp' => true,
    'enable.shib13-idp' => false,
    'enable.adfs-idp' => false,
    'module.enable' => [
        'exampleauth' => true,
        'core' => true,
        'saml' => true,
        'admin' => true,
    ],

    // Sessions in PHP's session files inside the run's temp dir.
    'store.type' => 'phpsession',
    'session.phpsession.savepath' => '@RUN_DIR@/sessions',
    'session.phpsession.cookiename' => 'SimpleSAML',
    'session.phpsession.httponly' => true,
    'session.duration' => 8 * 60 * 60,
    'session.datastore.timeout' => 4 * 60 * 60,
    'session.state.timeout' => 60 * 60,
    'session.cookie.name' => 'SimpleSAMLSessionID',
    'session.cookie.lifetime' => 0,
    'session.cookie.path' => '/',
    'session.cookie.domain' => null,
    // Plain http on loopback: a secure cookie would never come back, and
    // without SameSite=Lax Chromium drops the cookie ("Missing cookie").
    'session.cookie.secure' => false,
    'session.cookie.samesite' => 'Lax',
    'session.authtoken.cookiename' => 'SimpleSAMLAuthToken',
    'session.rememberme.enable' => false,
    'language.cookie.secure' => false,
    'language.cookie.samesite' => 'Lax',

    'language.available' => ['en'],
    'language.default' => 'en',
    'theme.use' => 'default',
    'template.auto_reload' => false,
    'production' => true,

    // The IdP's metadata at /saml2/idp/metadata.php is signed.
    'metadata.sign.enable' => true,
    'metadata.sign.privatekey' => 'idp.key',
    'metadata.sign.privatekey_pass' => null,
    'metadata.sign.certificate' => 'idp.crt',
    'metadata.sign.algorithm' => 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
];
