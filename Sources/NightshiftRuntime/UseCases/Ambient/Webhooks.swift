import Crypto
import Foundation
public import NightshiftConfig
public import NightshiftCore

/// Webhooks: `POST /hooks/NAME` starts a run from the template the user's configuration gives
/// that hook, when the request is signed with the hook's secret. A delivery is started once: its
/// run's id comes from the hook and the delivery id, so a redelivery finds the run and starts
/// nothing. The signature covers the delivery id and the body (HMAC-SHA256 of
/// `DELIVERY "\n" BODY`), so a captured request replayed under a new delivery id is refused.
public struct Webhooks: Sendable {
    /// A hook ready to receive: its secret and its template, read when the server started.
    public struct Hook: Sendable {
        public var name: String
        let secret: [UInt8]
        public var template: RunTemplate
    }

    public let hooks: [String: Hook]

    /// The header carrying the signature: `sha256=` and 64 hex digits.
    public static let signatureHeader = "X-Nightshift-Signature-256"
    /// The header carrying the delivery id (1–200 visible ASCII characters).
    public static let deliveryHeader = "X-Nightshift-Delivery"

    /// Reads each entry's secret file and plan file now (their contents are pinned: a file
    /// changed later, by anyone, changes nothing until the server starts again).
    /// - Parameter workspace: where a hook without a workspace of its own starts its runs.
    /// - Throws: ``RuntimeError`` naming the entry and the file that cannot be used.
    public init(_ entries: [WebhookEntry], workspace: String) throws {
        var hooks: [String: Hook] = [:]
        func folder(_ path: String) -> String { URL(fileURLWithPath: path).resolvingSymlinksInPath().path }
        let workspaces = Set(entries.map { folder($0.workspace ?? workspace) } + [folder(workspace)])
        for entry in entries {
            let place = entry.workspace ?? workspace
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: place, isDirectory: &isFolder), isFolder.boolValue else {
                throw RuntimeError(
                    .notFound, "\(entry.origin): webhook \(entry.name): no folder at \(place) to work in")
            }
            var secret = entry.secret ?? ""
            if let file = entry.secretFile {
                // An agent reads its workspace: a secret kept there would let it sign deliveries.
                let real = folder(file)
                if let inside = workspaces.first(where: { real == $0 || real.hasPrefix($0 + "/") }) {
                    throw RuntimeError(
                        .invalidInput,
                        "\(entry.origin): webhook \(entry.name): its secret file lies in \(inside), where runs work (and agents read): keep it outside"
                    )
                }
                guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                    throw RuntimeError(.notFound, "\(entry.origin): webhook \(entry.name): cannot read \(file)")
                }
                secret = text.trimmingCharacters(in: .whitespacesAndNewlines)
                guard secret.count >= WebhookEntry.minimumSecret else {
                    throw RuntimeError(
                        .invalidInput,
                        "\(entry.origin): webhook \(entry.name): the secret in \(file) is shorter than \(WebhookEntry.minimumSecret) characters"
                    )
                }
            }
            var template = RunTemplate(goal: entry.goal, agent: entry.agent, workspace: entry.workspace ?? workspace)
            if entry.reviewPlan { template.reviewPlan = true }
            if let file = entry.planFile {
                do { template.plan = try PlanFile.load(path: file) } catch {
                    throw RuntimeError(.invalidInput, "\(entry.origin): webhook \(entry.name): \(error)")
                }
            }
            hooks[entry.name] = Hook(name: entry.name, secret: Array(secret.utf8), template: template)
        }
        self.hooks = hooks
    }

    /// What a delivery did.
    public enum Receipt: Sendable, Equatable {
        case started(RunID)
        /// The delivery was received before: its run, unchanged.
        case duplicate(RunID)
    }

    /// Why a delivery was refused (nothing was started, nothing recorded).
    public struct Refusal: Error, Sendable, CustomStringConvertible {
        public enum Code: String, Sendable {
            case unknownHook = "unknown_hook"
            case signatureMissing = "signature_missing"
            case signatureInvalid = "signature_invalid"
            case deliveryMissing = "delivery_missing"
            case invalidBody = "invalid_body"
        }
        public var code: Code
        public var description: String
    }

    /// The run id of a hook's delivery.
    public static func runID(_ hook: String, delivery: String) -> RunID {
        RunID(
            "hook-\(hook)-"
                + SHA256.hash(data: Data(delivery.utf8)).prefix(8).map { String(format: "%02x", $0) }.joined())
    }

    /// The signature a sender puts in ``signatureHeader`` (for senders and tests).
    public static func signature(secret: String, delivery: String, body: [UInt8]) -> String {
        let mac = HMAC<SHA256>.authenticationCode(
            for: Array(delivery.utf8) + [0x0A] + body, using: SymmetricKey(data: Data(secret.utf8)))
        return "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    /// Checks a delivery and starts its run (or finds the one it started before).
    /// - Throws: a ``Refusal`` for a delivery that is not one; ``RuntimeError`` when the run's
    ///   checks fail (its workspace's configuration, its agent).
    public func receive(
        _ name: String, body: [UInt8], signature: String?, delivery: String?, starts: RunStarts, runtime: Runtime,
        observer: RunObserver
    ) async throws -> Receipt {
        guard let hook = hooks[name] else {
            throw Refusal(code: .unknownHook, description: "no webhook named \(name) in the user's configuration")
        }
        guard let signature, !signature.isEmpty else {
            throw Refusal(code: .signatureMissing, description: "the request has no \(Self.signatureHeader) header")
        }
        guard let delivery, (1...200).contains(delivery.utf8.count),
            delivery.utf8.allSatisfy({ (0x21...0x7E).contains($0) })
        else {
            throw Refusal(
                code: .deliveryMissing,
                description: "the request needs a \(Self.deliveryHeader) header of 1–200 visible ASCII characters")
        }
        guard signature.hasPrefix("sha256="), let mac = Data(hex: String(signature.dropFirst(7))), mac.count == 32,
            HMAC<SHA256>.isValidAuthenticationCode(
                mac, authenticating: Array(delivery.utf8) + [0x0A] + body, using: SymmetricKey(data: hook.secret))
        else {
            throw Refusal(
                code: .signatureInvalid,
                description:
                    "the signature does not match: HMAC-SHA256 of the delivery id, a newline and the body, as sha256=HEX"
            )
        }
        let data: TriggerData
        do { data = try JSONDecoder().decode(TriggerData.self, from: Data(body)) } catch {
            throw Refusal(code: .invalidBody, description: "the body is not JSON")
        }
        let id = Self.runID(name, delivery: delivery)
        if (try? await runtime.status(of: id)) != nil { return .duplicate(id) }
        let trigger = RunTrigger(
            kind: .webhook, name: name, by: "webhook \(name) (signature checked)", detail: "delivery \(delivery)",
            payloadSHA256: SHA256.hash(data: Data(body)).map { String(format: "%02x", $0) }.joined())
        do {
            return .started(
                try await starts.start(
                    hook.template, data: data, trigger: trigger, id: id, on: runtime, observer: observer))
        } catch let e as RuntimeError where e.code == .exists || e.code == .busy {
            // The same delivery, received twice at once: the other request started it.
            return .duplicate(id)
        }
    }
}
