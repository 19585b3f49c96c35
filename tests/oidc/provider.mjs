// A real OpenID provider on loopback for the single sign-on tests
// (tests/it/oidc.rs): oidc-provider, a certified implementation, with its
// development sign-in form (any user name signs in; the name is the
// subject). Started by the tests as
//
//   node tests/oidc/provider.mjs PORT REDIRECT_URI POST_LOGOUT_URI
//
// It prints "ready <issuer>" on stdout once it listens on 127.0.0.1:PORT.
//
// Clients:
// - `ocset`: the dashboard (confidential, authorization code with PKCE).
// - `force-system`: a force system using the API by client credentials; its
//   JWT access tokens carry `roles: ["ocset-intake"]`.
// - `force-nobody`: the same without any role.
// Access tokens are JWTs for the resource (the audience) asked for with
// `resource=...` (RFC 8707), such as `api://ocset`.
//
// People: a user name's groups claim comes from GROUPS below; any other
// name has none (an unmapped person). The email is `<name>@force.example`.
//
// `POST /__test/rotate-keys` swaps the provider for one signing with a new
// key (the old one is no longer published), as an issuer rotating its keys.
import http from 'node:http';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';

const [port, redirectUri, postLogoutUri] = process.argv.slice(2);
if (!port || !redirectUri || !postLogoutUri) {
  console.error('usage: provider.mjs PORT REDIRECT_URI POST_LOGOUT_URI');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

export const SECRETS = {
  ocset: 'ocset-test-secret-that-is-long-enough-0123456789',
  'force-system': 'force-system-secret-0123456789',
  'force-nobody': 'force-nobody-secret-0123456789',
};

const GROUPS = {
  sergeant: ['ocset-sergeants', 'staff'],
  analyst: ['ocset-analysts'],
  chief: ['ocset-admins', 'ocset-sergeants'],
};

const CLIENT_ROLES = {
  'force-system': ['ocset-intake'],
  'force-nobody': [],
};

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: randomUUID(), use: 'sig', alg: 'RS256' };
}

function makeProvider() {
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'ocset',
        client_secret: SECRETS.ocset,
        redirect_uris: [redirectUri],
        post_logout_redirect_uris: [postLogoutUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      ...['force-system', 'force-nobody'].map((id) => ({
        client_id: id,
        client_secret: SECRETS[id],
        redirect_uris: [],
        response_types: [],
        grant_types: ['client_credentials'],
        token_endpoint_auth_method: 'client_secret_basic',
      })),
    ],
    jwks: { keys: [signingKey()] },
    // The scopes' claims go into the ID token too (the service reads the
    // ID token, not the userinfo endpoint).
    conformIdTokenClaims: false,
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      groups: ['groups'],
    },
    findAccount: async (ctx, id) => ({
      accountId: id,
      claims: async () => ({
        sub: id,
        email: `${id}@force.example`,
        email_verified: true,
        name: id.charAt(0).toUpperCase() + id.slice(1),
        groups: GROUPS[id] ?? [],
      }),
    }),
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => false,
        getResourceServerInfo: (ctx, resource) => ({
          scope: 'api',
          audience: resource,
          accessTokenFormat: 'jwt',
          accessTokenTTL: 600,
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    extraTokenClaims: async (ctx, token) => {
      if (token.kind === 'ClientCredentials') {
        return { roles: CLIENT_ROLES[token.clientId] ?? [] };
      }
      return undefined;
    },
    ttl: { ClientCredentials: 600, IdToken: 600, AccessToken: 600 },
  });
  provider.on('server_error', (ctx, err) => console.error('provider error', err));
  return provider;
}

let current = makeProvider();

const server = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/__test/rotate-keys') {
    current = makeProvider();
    res.writeHead(204);
    res.end();
    return;
  }
  current.callback()(req, res);
});

server.listen(Number(port), '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
