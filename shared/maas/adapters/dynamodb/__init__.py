"""DynamoDB adapters, one module per aggregate over one small table helper (``table.py``).

The registry lives in one table. Every item's partition key is its tenant (``T#<tenant>``).

| item     | PK         | SK                               |
|----------|------------|----------------------------------|
| tenant   | T#<tenant> | TENANT                           |
| API key  | T#<tenant> | KEY#<key id>                     |
| model    | T#<tenant> | MODEL#<name>  (+ version_counter) |
| version  | T#<tenant> | VERSION#<name>#<version:010d>    |
| alias    | T#<tenant> | ALIAS#<model>#<alias>            |
| grant    | T#<owner>  | GRANT#<model>#<grantee>          |
| quota    | T#<tenant> | QUOTA                            |
| bucket   | T#<tenant> | BUCKET#<tenant or grant>         |
| usage    | T#<tenant> | USAGE#<day>#<model>              |
| audit    | T#<tenant> | AUDIT#<time>#<id>                |
| shadow   | T#<tenant> | SHADOW#<model>#<alias>#<version>, SHADOWSAMPLE#<id> |

The jobs table (``jobs.py``) and the batch table (``batch.py``) hold one aggregate each.
"""
