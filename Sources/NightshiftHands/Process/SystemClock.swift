import Foundation
public import NightshiftCore

/// The host's clock (milliseconds since 1970, UTC): the ``WallClock`` every front end uses.
public struct SystemClock: WallClock {
    public init() {}
    public func now() -> Timestamp { Timestamp(milliseconds: Int64((Date().timeIntervalSince1970 * 1000).rounded())) }
}
