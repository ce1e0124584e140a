extension Int64 {
    /// `self + other`, held at the ends of the range instead of trapping. Budgets, reservations and
    /// spending add numbers that came from outside (a profile, a policy, a model's tool call): a
    /// sum past the range means "more than any limit", never a trap every resume would hit again.
    public func plusSaturating(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }

    /// `self - other`, held at the ends of the range instead of trapping.
    public func minusSaturating(_ other: Int64) -> Int64 {
        let (difference, overflow) = subtractingReportingOverflow(other)
        return overflow ? (other > 0 ? .min : .max) : difference
    }
}

extension Int {
    /// `self * other`, held at the ends of the range instead of trapping: a window from a log
    /// written before windows were bounded is still compared, never a trap on every resume.
    public func timesSaturating(_ other: Int) -> Int {
        let (product, overflow) = multipliedReportingOverflow(by: other)
        return overflow ? ((self < 0) != (other < 0) ? .min : .max) : product
    }
}
