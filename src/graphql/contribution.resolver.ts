import { Arg, Ctx, Field, ID, InputType, Mutation, ObjectType, Query, Resolver } from 'type-graphql';
import { Contribution } from '../db/entities/index.js';
import {
  approveContribution,
  getContributionByGuestToken,
  rejectContribution,
  submitContribution,
} from '../domain/contribution/contribution.service.js';
import type { Context } from './context.js';

@InputType()
export class SubmitContributionInput {
  @Field(() => String, { description: 'How you sign; 1 to 200 characters.' })
  contributorName!: string;

  @Field(() => String, { nullable: true, description: 'How you knew them.' })
  relationship?: string | null;

  @Field(() => String, { nullable: true, description: 'A message to the family; up to 5000 characters.' })
  message?: string | null;
}

@ObjectType({ simpleResolvers: true })
export class SubmittedContribution {
  @Field(() => Contribution)
  contribution!: Contribution;

  @Field(() => String, { description: 'Keep it: it shows you the status of your contribution. Shown once.' })
  guestToken!: string;
}

@Resolver(() => Contribution)
export class ContributionResolver {
  @Mutation(() => SubmittedContribution, {
    description: 'A guest sends memories through a contribution link; no account needed. Owners review it before anyone else sees it.',
  })
  submitContribution(
    @Arg('token', () => String, { description: 'The contribution link token.' }) token: string,
    @Arg('input', () => SubmitContributionInput) input: SubmitContributionInput,
    @Ctx() ctx: Context,
  ): Promise<SubmittedContribution> {
    return submitContribution(ctx.em, token, { ...input }, ctx.guard, ctx.events);
  }

  @Query(() => Contribution, { description: "A guest's own contribution, by the guest token they got back." })
  contributionByGuestToken(@Arg('guestToken', () => String) guestToken: string, @Ctx() ctx: Context): Promise<Contribution> {
    return getContributionByGuestToken(ctx.em, guestToken, ctx.guard);
  }

  @Mutation(() => Contribution, { description: 'Owners approve: its memories join the chest.' })
  approveContribution(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<Contribution> {
    return approveContribution(ctx.em, ctx.actor, id, ctx.events);
  }

  @Mutation(() => Contribution, { description: 'Owners reject, optionally with a reason the guest will see.' })
  rejectContribution(
    @Arg('id', () => ID) id: string,
    @Arg('reason', () => String, { nullable: true }) reason: string | null,
    @Ctx() ctx: Context,
  ): Promise<Contribution> {
    return rejectContribution(ctx.em, ctx.actor, id, reason);
  }
}
