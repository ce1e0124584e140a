public import Hummingbird
public import NightshiftCore
import NightshiftRuntime

/// One request's context: the token it was authenticated with (set by ``TokenAuthentication``).
public struct APIContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The request's token; nil only before authentication and on the open routes (health).
    public var token: APIToken?
    /// The dashboard's session (its id and CSRF secret), for a signed-in page.
    var session: (id: String, csrf: String)?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        token = nil
        session = nil
    }

    /// Request bodies are small JSON objects (a decision, a reason): 64 KiB at most.
    public var maxUploadSize: Int { APIServer.maxBodyBytes }

    /// The token, if it may do what `scope` allows; otherwise the problem to answer with.
    func require(_ scope: TokenScope) throws -> APIToken {
        guard let token else {
            throw Problem(.unauthorized, code: "unauthorized", AuthenticationProblem.missing.message)
        }
        guard token.allows(scope) else {
            throw Problem(
                .forbidden, code: "forbidden",
                "this token's scopes (\(token.scopes.sorted().map(\.rawValue).joined(separator: ", "))) do not include \(scope)"
            )
        }
        return token
    }
}
