import CurlClient
import ServiceSupport

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Finds the expected issuer and the JWKS URL: from configuration when `--jwks-url` is
/// set, otherwise from the Issuer's RFC 8414 / OpenID discovery document.
struct Discovery {
    let configuration: ResourceAPIConfiguration
    let client: CurlClient

    private struct Document: Decodable {
        var issuer: String
        var jwks_uri: String
    }

    func resolve() async throws -> KeySource {
        if let jwksURL = self.configuration.jwksURL {
            return KeySource(
                expectedIssuer: self.configuration.expectedIssuer ?? self.configuration.issuerURL,
                jwksURL: jwksURL
            )
        }
        let base = Self.trimmingSlash(self.configuration.issuerURL)
        var lastFailure = FetchFailure(description: "no discovery document")
        for path in ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"] {
            let response = try await self.client.get(
                base + path,
                headers: [("Accept", "application/json")],
                options: self.configuration.fetchOptions(maxBodyBytes: 256 * 1024)
            )
            guard response.status == 200 else {
                lastFailure = FetchFailure(description: "GET \(base + path): HTTP status \(response.status)")
                continue
            }
            let document: Document
            do {
                document = try JSONDecoder().decode(Document.self, from: Data(response.body))
            } catch {
                throw FetchFailure(description: "GET \(base + path): not a discovery document with issuer and jwks_uri")
            }
            let jwksURL = Self.rebase(jwksURI: document.jwks_uri, issuer: document.issuer, onto: self.configuration.issuerURL)
            // The rule of --issuer-url and --jwks-url, for a published jwks_uri too.
            if !self.configuration.allowHTTPIssuer, LoopbackHost.isRemotePlainHTTP(jwksURL) {
                throw FetchFailure(
                    description: "GET \(base + path): jwks_uri \(jwksURL) is plain http to a host that is not loopback "
                        + "(allowed only with --allow-http-issuer)"
                )
            }
            return KeySource(expectedIssuer: self.configuration.expectedIssuer ?? document.issuer, jwksURL: jwksURL)
        }
        throw lastFailure
    }

    /// When `jwksURI` lies on the discovered issuer's origin, the same path on the origin we
    /// reach the Issuer through (`http://localhost:8081` in tokens, `http://issuer:8081`
    /// inside docker-compose). Any other `jwks_uri` is used as published.
    static func rebase(jwksURI: String, issuer: String, onto internalURL: String) -> String {
        guard let jwks = URLComponents(string: jwksURI), let issuerComponents = URLComponents(string: issuer),
            let reached = URLComponents(string: internalURL),
            let origin = Origin(jwks), origin == Origin(issuerComponents), let target = Origin(reached)
        else { return jwksURI }
        var rebased = jwks
        rebased.scheme = target.scheme
        rebased.host = target.host
        rebased.port = reached.port
        return rebased.string ?? jwksURI
    }

    static func trimmingSlash(_ url: String) -> String {
        var url = Substring(url)
        while url.hasSuffix("/") { url = url.dropLast() }
        return String(url)
    }

    /// Scheme, host and port, with the scheme's default port filled in.
    struct Origin: Equatable {
        var scheme: String
        var host: String
        var port: Int

        init?(_ components: URLComponents) {
            guard let scheme = components.scheme?.lowercased(), let host = components.host?.lowercased(), !host.isEmpty else {
                return nil
            }
            self.scheme = scheme
            self.host = host
            self.port = components.port ?? (scheme == "https" ? 443 : 80)
        }
    }
}
