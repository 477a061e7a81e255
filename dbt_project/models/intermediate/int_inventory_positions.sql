-- Stock per SKU-location for the as_of: WMS physical and usable on-hand (lots not expired,
-- less quality hold) against the ERP book, with the record-accuracy test of DESIGN section 4.
with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

sku_locations as (
    select sku, location_id from {{ ref('int_sku_locations') }}
),

lots as (
    select * from {{ ref('stg_wms__inventory_snapshot') }}
),

book as (
    select * from {{ ref('stg_erp__inventory_book') }}
),

lot_totals as (
    select
        lots.sku,
        lots.location_id,
        sum(lots.on_hand_units) as physical_on_hand_units,
        sum(
            case
                when lots.expiry_date is null or lots.expiry_date >= run_context.as_of
                    then lots.on_hand_units - lots.hold_units
                else 0
            end
        ) as usable_on_hand_units,
        sum(lots.hold_units) as hold_units,
        sum(lots.allocated_units) as allocated_units,
        sum(
            case when lots.expiry_date < run_context.as_of then lots.on_hand_units else 0 end
        ) as expired_units,
        count(*) as lot_count,
        max(lots.snapshot_at) as snapshot_at
    from lots
    cross join run_context
    group by lots.sku, lots.location_id
),

positions as (
    select
        sku_locations.sku,
        sku_locations.location_id,
        coalesce(lot_totals.physical_on_hand_units, 0) as physical_on_hand_units,
        coalesce(lot_totals.usable_on_hand_units, 0) as usable_on_hand_units,
        coalesce(lot_totals.hold_units, 0) as hold_units,
        coalesce(lot_totals.allocated_units, 0) as allocated_units,
        coalesce(lot_totals.expired_units, 0) as expired_units,
        coalesce(lot_totals.lot_count, 0) as lot_count,
        lot_totals.snapshot_at,
        coalesce(book.book_on_hand_units, 0) as book_on_hand_units,
        book.book_on_hand_units is not null as has_book_record
    from sku_locations
    left join lot_totals
        on sku_locations.sku = lot_totals.sku
        and sku_locations.location_id = lot_totals.location_id
    left join book
        on sku_locations.sku = book.sku
        and sku_locations.location_id = book.location_id
),

final as (
    select
        positions.*,
        abs(positions.book_on_hand_units - positions.physical_on_hand_units)
            as record_difference_units,
        greatest(
            run_context.mismatch_tolerance_units,
            run_context.mismatch_tolerance_pct * positions.physical_on_hand_units
        ) as record_tolerance_units,
        abs(positions.book_on_hand_units - positions.physical_on_hand_units) > greatest(
            run_context.mismatch_tolerance_units,
            run_context.mismatch_tolerance_pct * positions.physical_on_hand_units
        ) as is_record_mismatch
    from positions
    cross join run_context
)

select * from final
