<?php
/*
 * Users of the test IdP (exampleauth:UserPass). Each parallel test picks its
 * own user; tests/it/common/saml_idp.rs names them (IdpUser constants).
 */
$config = [
    'admin' => [
        'core:AdminPassword',
    ],
    'steward-users' => [
        'exampleauth:UserPass',
        'alice:alicepass' => [
            'uid' => ['alice'],
            'email' => ['alice@idp.steward.test'],
            'givenName' => ['Alice'],
            'sn' => ['Anderson'],
        ],
        'bob:bobpass' => [
            'uid' => ['bob'],
            'email' => ['bob@idp.steward.test'],
            'givenName' => ['Bob'],
            'sn' => ['Brown'],
        ],
        'carol:carolpass' => [
            'uid' => ['carol'],
            'email' => ['carol@idp.steward.test'],
            'givenName' => ['Carol'],
            'sn' => ['Clark'],
        ],
        'dave:davepass' => [
            'uid' => ['dave'],
            'email' => ['dave@idp.steward.test'],
            'givenName' => ['Dave'],
            'sn' => ['Davis'],
        ],
    ],
];
