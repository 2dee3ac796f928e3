"""GraphQL documents shared by the CLI, the pages and the tests, so that every
interface returns the very same fields."""

from __future__ import annotations

__all__ = ["FIND_RESOURCES_QUERY", "COVERAGE_QUERY"]

_MATCH_FIELDS = """
fragment MatchFields on Match {
  rank kind key name level basis score distanceKm minutes withinRadius
  inErhrTerritory department synthetic lat lon misses ageGroup locationSource group
  covers { need needKind level path source explanation link }
  contact { address postcode city phone email website source missing }
}
"""

FIND_RESOURCES_QUERY = (
    """
query FindResources($situation: SituationInput!, $limit: Int! = 20) {
  findResources(situation: $situation, limit: $limit) {
    combination deficiencies skills conditions radiusKm notes transition
    qualification { combination matched summary cnrhr superseded criteria { code label cnrhr } }
    place { commune communeName department lat lon approximate }
    erhr { code name seat email phone website regions missing }
    inferred { deficiency condition conditionLabel phenotypes explanation frequency core }
    possible { deficiency condition conditionLabel phenotypes explanation frequency core }
    matches { ...MatchFields }
    teams { maxDistanceKm members { ...MatchFields } }
    widening { competentInside message }
    knowledge { key kind kindLabel title summary link author erhr available synthetic about { kind code label } }
  }
}
"""
    + _MATCH_FIELDS
)

_TERRITORY_COVERAGE = """
fragment TerritoryCoverageFields on TerritoryCoverage {
  code name population resources resourcesPer100k meanKm medianKm meanMinutes
  sharesBeyond { thresholdKm share } populationBeyond populationUnreachable openSituations withoutSolution suppressed openSituationsPublished withoutSolutionPublished zoneBlanche noData
}
"""

COVERAGE_QUERY = (
    """
query Coverage($deficiencies: [String!]!, $level: Level!, $thresholdKm: Float!, $age: Int, $localOnly: Boolean = false,
               $separately: Boolean = false) {
  coverage(deficiencies: $deficiencies, level: $level, thresholdKm: $thresholdKm, age: $age, localOnly: $localOnly,
           separately: $separately) {
    combination level thresholdKm age exactCombinationCounts localOnly separately noData populationGroup
    nationalCentres { code name department }
    national { ...TerritoryCoverageFields }
    territories { ...TerritoryCoverageFields }
  }
}
"""
    + _TERRITORY_COVERAGE
)
