"""The ground layer of Veille: configuration and the vocabulary every other part speaks.

- `config.schema`: fixed slugs and facets, models of sources.yaml, taxonomy.yaml, settings.yaml;
- `config.loading`: reading and validating a configuration folder (`load_config`);
- `config.errors`: `VeilleError` (a message for the user, in French) and `ConfigError`;
- `config.dates`: time zone, ISO weeks, French dates;
- `config.yamlfile`: YAML with the line of every value, for precise errors.

It imports nothing else of the project: crawlers, pipeline and newsletter build on it.
"""
